import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from "node:crypto";
import { isSecret, SECRET_SIG, SIG_KEY, type Value } from "./wire";

/**
 * Passphrase of the harness's stacks: a test value, as `PULUMI_CONFIG_PASSPHRASE` is for a
 * passphrase-managed stack. It only has to keep secrets out of the state file in plain text.
 */
export const TEST_PASSPHRASE = "pulumi-conntrack engine harness (test only)";

/**
 * Encrypts and decrypts secret values for the state file, in the shape of a Pulumi checkpoint:
 * `{sig: secret, ciphertext: "v1:<iv>:<sealed>"}` (AES-256-GCM).
 */
export class SecretsManager {
  private readonly key: Buffer;

  constructor(passphrase = TEST_PASSPHRASE, salt = "pulumi-conntrack-harness") {
    this.key = scryptSync(passphrase, salt, 32);
  }

  /** Encrypts one plaintext. */
  encrypt(plaintext: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.key, iv);
    const sealed = Buffer.concat([c.update(plaintext, "utf8"), c.final(), c.getAuthTag()]);
    return `v1:${iv.toString("base64")}:${sealed.toString("base64")}`;
  }

  /** Decrypts what {@link SecretsManager.encrypt} produced. */
  decrypt(ciphertext: string): string {
    const [v, ivB64, sealedB64] = ciphertext.split(":");
    if (v !== "v1" || !ivB64 || !sealedB64) throw new Error("state: malformed secret ciphertext");
    const sealed = Buffer.from(sealedB64, "base64");
    const d = createDecipheriv("aes-256-gcm", this.key, Buffer.from(ivB64, "base64"));
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]).toString("utf8");
  }

  /** Replaces every secret wrapper in `v` by its encrypted form (for writing state). */
  seal(v: Value): Value {
    if (isSecret(v)) return { [SIG_KEY]: SECRET_SIG, ciphertext: this.encrypt(JSON.stringify(v.value)) };
    if (Array.isArray(v)) return v.map((x) => this.seal(x));
    if (v && typeof v === "object") {
      const out: Record<string, Value> = {};
      for (const [k, x] of Object.entries(v)) out[k] = this.seal(x);
      return out;
    }
    return v;
  }

  /** Reverses {@link SecretsManager.seal} (for reading state). */
  unseal(v: Value): Value {
    if (v && typeof v === "object" && !Array.isArray(v) && v[SIG_KEY] === SECRET_SIG && typeof v.ciphertext === "string") {
      return { [SIG_KEY]: SECRET_SIG, value: JSON.parse(this.decrypt(v.ciphertext)) as Value };
    }
    if (Array.isArray(v)) return v.map((x) => this.unseal(x));
    if (v && typeof v === "object") {
      const out: Record<string, Value> = {};
      for (const [k, x] of Object.entries(v)) out[k] = this.unseal(x);
      return out;
    }
    return v;
  }
}
