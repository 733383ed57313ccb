import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { credentialNeedles, leaksIn } from "./credentials";
import type { OperationResult } from "./engine";
import { assertBuilt, engineFor, PROGRAMS, REPO, stackDir } from "./harness";
import { expectOk } from "./lifecycle";
import { isSecret } from "./wire";

// What every resource stores as its `__provider`: captured from a real program run (preview: Check
// only, so no host is needed) as the SDK serialized it.
const TYPES = ["ConntrackHelperSetting", "NotrackRule", "ModuleBlacklist"] as const;
/** Upper bound on the serialized provider: it is stored in every resource of every stack. */
const MAX_PROVIDER_BYTES = 4096;

describe("the serialized provider", () => {
  let preview: OperationResult;
  let keyFile: string;
  const providers: Record<string, string> = {};

  beforeAll(async () => {
    assertBuilt();
    const dir = stackDir("serialization");
    keyFile = path.join(dir, "id_test");
    writeFileSync(keyFile, generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }) as string, { mode: 0o600 });
    const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIiO4lLW5T/YSw2CY6WrXZt0WacjccC2btrmvFEtbPz9";
    preview = await engineFor(path.join(PROGRAMS, "lab-resources"), dir, {
      hosts: [{ name: "h", address: "192.0.2.10", hostKey }],
      keyFile,
      resources: [
        { kind: "ConntrackHelperSetting", name: "helper", host: "h" },
        { kind: "NotrackRule", name: "rule", host: "h", args: { chain: "PREROUTING", protocol: "udp", destinationPort: 53 } },
        { kind: "ModuleBlacklist", name: "bl", host: "h", args: { modules: ["nf_conntrack"] } },
      ],
    }).preview();
    expectOk(preview);
    for (const r of preview.registrations.filter((x) => x.custom)) providers[r.type.split(":").pop()!] = r.inputs.__provider as string;
  });

  it("is registered for every resource type, as plain text (it captured no secret)", () => {
    expect(Object.keys(providers).sort()).toEqual([...TYPES].sort());
    for (const r of preview.registrations.filter((x) => x.custom)) {
      expect(isSecret(r.inputs.__provider)).toBe(false);
      expect(typeof r.inputs.__provider).toBe("string");
    }
  });

  it(`is small: at most ${MAX_PROVIDER_BYTES} bytes`, () => {
    for (const t of TYPES) expect(Buffer.byteLength(providers[t]), t).toBeLessThanOrEqual(MAX_PROVIDER_BYTES);
  });

  it("requires the package by name at call time and captures nothing but the type name", () => {
    for (const t of TYPES) {
      const text = providers[t];
      for (const m of ["check", "diff", "create", "read", "update", "delete"]) {
        expect(text).toContain(`return require("pulumi-conntrack/runtime").handler(type).${m}(`);
      }
      // The six methods and the wrapper the SDK adds: no other function was captured by value.
      expect(text.match(/^function __f\d+\(/gm)).toHaveLength(7);
      const captured = [...text.matchAll(/with\(\{ (.*?) \}\)/g)].map((m) => m[1]);
      for (const c of captured) expect(c).toMatch(/^(type: "\w+"|provider: __provider), this: undefined, arguments: undefined$/);
      expect(captured.filter((c) => c.startsWith("type:"))).toEqual(Array(6).fill(`type: "${t}", this: undefined, arguments: undefined`));
      // Only inside the methods: nothing is required when the text is loaded.
      expect(text.slice(0, text.indexOf("function __f1"))).not.toContain("require(");
      for (const s of ["ssh2", "zod", "192.0.2.10", "BEGIN", "readFileSync", "connection"]) expect(text).not.toContain(s);
      expect(leaksIn(text, credentialNeedles(keyFile), t)).toEqual([]);
      // The same text for every type but the name.
      expect(text.replaceAll(`"${t}"`, '"T"')).toBe(providers.ConntrackHelperSetting.replaceAll('"ConntrackHelperSetting"', '"T"'));
    }
  });

  it("loads as the dynamic-provider server loads it, from a user's project directory, and runs today's code", () => {
    // require-from-string, as in @pulumi/pulumi/cmd/dynamic-provider, with cwd = the program's directory.
    const probe = String.raw`
      const requireFromString = require(require.resolve("require-from-string", { paths: [require.resolve("@pulumi/pulumi")] }));
      const text = require("fs").readFileSync(0, "utf8");
      const p = requireFromString(text).handler();
      p.check({}, { connection: { host: "192.0.2.10" }, modules: ["nf_conntrack", "nf-conntrack"] }).then((r) => {
        process.stdout.write(JSON.stringify({ methods: Object.keys(p).sort(), failures: r.failures, runtime: require.resolve("pulumi-conntrack/runtime") }));
      });`;
    const out = JSON.parse(
      execFileSync(process.execPath, ["-e", probe], {
        cwd: path.join(REPO, "examples", "dns-servers"),
        input: providers.ModuleBlacklist,
        encoding: "utf8",
      }),
    ) as { methods: string[]; failures: { property: string; reason: string }[]; runtime: string };
    expect(out.methods).toEqual(["check", "create", "delete", "diff", "read", "update"]);
    expect(out.runtime).toBe(path.join(REPO, "dist", "provider", "runtime", "index.js"));
    expect(out.failures.map((f) => f.property)).toContain("modules[1]");
  });
});
