import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { opsByName, RealStack } from "../../scripts/real-engine";
import { hostExec } from "../lab/inventory";
import { credentialNeedles, leaksIn } from "../engine/credentials";
import { hostsConfig, snapshotHosts } from "../engine/lab-hosts";
import { placeholders, restoreArtifacts, substitute, type OldStateFixture } from "../engine/old-state";
import { expectExit, isEncryptedSecret, lab, REPO, SKIP, stackOnResetHosts, REAL_TIMEOUT } from "./real";

// The state release 0.1.0 wrote (test/engine/fixtures/state-v1.json, the stand-in's checkpoint form),
// turned into a Pulumi deployment, imported into the real backend with `pulumi stack import`, then
// refreshed and destroyed by today's code through the real CLI, with what that release left on the
// hosts put back first.
const FIXTURE = JSON.parse(readFileSync(path.join(REPO, "test", "engine", "fixtures", "state-v1.json"), "utf8")) as OldStateFixture;
const SIG = "4dabf18193072939515e22adb298388d";

/** Secrets of the stand-in's wire form ({sig, value}) as a deployment's plaintext secrets ({sig, plaintext}). */
function plaintextSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plaintextSecrets);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (o[SIG] === "1b47061264138c4ac30d75fd1eb44270" && "value" in o) return { [SIG]: o[SIG], plaintext: JSON.stringify(o.value) };
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, plaintextSecrets(x)]));
  }
  return v;
}

/** The fixture's state as `pulumi stack import` takes it (deployment version 3), with its default dynamic provider. */
function deployment(state: OldStateFixture["state"], salt: string): unknown {
  const prov = `urn:pulumi:${state.stack}::${state.project}::pulumi:providers:pulumi-nodejs::default`;
  const provId = "9b6a1f4e-0c1d-4e55-9a57-3f0c2a51d001";
  const stackUrn = state.resources.find((r) => r.type === "pulumi:pulumi:Stack")!.urn;
  return {
    version: 3,
    deployment: {
      // The CLI checks the magic: the SHA-256 of the manifest's version.
      manifest: { time: new Date().toISOString(), magic: createHash("sha256").update("v3.274.1").digest("hex"), version: "v3.274.1" },
      // The stack's own passphrase provider (its salt from `pulumi stack init`): the CLI encrypts
      // the plaintext secrets with it on import.
      secrets_providers: { type: "passphrase", state: { salt } },
      resources: [
        ...state.resources
          .filter((r) => !r.custom)
          .map((r) => ({ urn: r.urn, custom: false, type: r.type, inputs: r.inputs, outputs: r.outputs })),
        { urn: prov, custom: true, id: provId, type: "pulumi:providers:pulumi-nodejs", parent: stackUrn, inputs: {}, outputs: {} },
        ...state.resources
          .filter((r) => r.custom)
          .map((r) => ({
            urn: r.urn,
            custom: true,
            id: r.id,
            type: r.type,
            parent: r.parent,
            provider: `${prov}::${provId}`,
            dependencies: r.dependencies,
            additionalSecretOutputs: r.additionalSecretOutputs,
            inputs: plaintextSecrets(r.inputs),
            outputs: plaintextSecrets(r.outputs),
          })),
      ],
    },
  };
}

describe.skipIf(SKIP)(
  "state of release 0.1.0 imported into the real backend, refreshed and destroyed (lab)",
  { timeout: REAL_TIMEOUT },
  () => {
    let pristine: Record<string, string> = {};
    let ids: [string, string | undefined][] = [];
    const stack = stackOnResetHosts(
      FIXTURE.hosts,
      () => new RealStack(path.join(REPO, "test", "engine", "programs", "lab-resources"), FIXTURE.state.stack, {}),
    );

    it("pulumi stack import takes it, and stores its secrets encrypted", async () => {
      const s = stack();
      pristine = await snapshotHosts(FIXTURE.hosts, hostExec);
      const pairs = placeholders(hostsConfig(lab!, FIXTURE.hosts), readFileSync(lab!.privateKeyPath, "utf8")).map(
        ([a, b]): [string, string] => [b, a],
      );
      for (const h of FIXTURE.hosts) await restoreArtifacts(h, substitute(FIXTURE.artifacts[h], pairs), hostExec);
      s.init();
      const file = path.join(s.state, "state-v1.deployment.json");
      const salt = /^encryptionsalt:\s*(\S+)/m.exec(readFileSync(path.join(s.work, `Pulumi.${s.stack}.yaml`), "utf8"))?.[1];
      expect(salt).toBeTruthy();
      writeFileSync(file, JSON.stringify(deployment(substitute(FIXTURE.state, pairs), salt!)));
      const r = s.pulumi(["stack", "import", "--stack", s.stack, "--file", file]);
      expect(r.code, r.stderr).toBe(0);
      const text = s.exportText();
      expect(leaksIn(text, credentialNeedles(lab!.privateKeyPath), "stack export")).toEqual([]);
      const custom = s.resources().filter((x) => x.custom && !x.type.startsWith("pulumi:providers:"));
      expect(custom.length).toBe(4);
      // As release 0.1.0 stored them: the whole connection secret in the outputs, the key in the inputs.
      for (const x of custom) {
        expect(isEncryptedSecret(x.outputs?.connection), `${x.urn} outputs.connection`).toBe(true);
        expect(
          isEncryptedSecret((x.inputs?.connection as Record<string, unknown>)?.privateKey),
          `${x.urn} inputs.connection.privateKey`,
        ).toBe(true);
      }
      ids = custom.map((x) => [x.urn, x.id]);
    });

    it("pulumi refresh keeps every resource with the ids the old release stored, and changes nothing", async () => {
      expect(ids.length).toBe(4);
      const r = await stack().run("refresh");
      expectExit(r);
      expect(Object.values(opsByName(r, "outputs")).filter((op) => op === "delete")).toEqual([]);
      const custom = stack()
        .resources()
        .filter((x) => x.custom && !x.type.startsWith("pulumi:providers:"));
      expect(custom.map((x) => [x.urn, x.id])).toEqual(ids);
    });

    it("pulumi destroy removes what the old release made, down to the hosts' pristine bytes", async () => {
      const r = await stack().run("destroy");
      expectExit(r);
      expect(new Set(Object.values(opsByName(r)))).toEqual(new Set(["delete"]));
      expect(
        stack()
          .resources()
          .filter((x) => x.custom),
      ).toEqual([]);
      const after = await snapshotHosts(FIXTURE.hosts, hostExec);
      for (const h of FIXTURE.hosts) expect(after[h], `host ${h}`).toBe(pristine[h]);
    });
  },
);
