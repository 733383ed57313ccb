import { readFileSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostExec, isRoot, labRunning, loadLab, resetHost, type LabInventory } from "../lab/inventory";
import { credentialNeedles, leaksIn } from "./credentials";
import { plainOutputs, type Engine } from "./engine";
import { assertBuilt, engineFor, PROGRAMS, stackDir } from "./harness";
import { hostsConfig, snapshotHosts } from "./lab-hosts";
import { expectOk, resourceSteps } from "./lifecycle";
import { placeholders, restoreArtifacts, substitute, type OldStateFixture } from "./old-state";
import { sameValue } from "./wire";

// State written by release 0.1.0 (fixtures/state-v1.json, made by fixtures/capture-state-v1.ts),
// with what that release left on the hosts put back by hand: today's code must refresh it without
// losing a resource and destroy it down to the hosts' pristine bytes.
const FIXTURE = JSON.parse(readFileSync(path.join(__dirname, "fixtures", "state-v1.json"), "utf8")) as OldStateFixture;
const lab = isRoot() && labRunning() ? (loadLab() as LabInventory) : undefined;

describe("the state fixture of release 0.1.0", () => {
  it("is the first release's, holds one resource of each type, and no credential", () => {
    expect(FIXTURE.release).toBe("0.1.0");
    const custom = FIXTURE.state.resources.filter((r) => r.custom);
    expect(custom.map((r) => r.type.split(":").pop()).sort()).toEqual([
      "ConntrackHelperSetting",
      "ModuleBlacklist",
      "NotrackRule",
      "NotrackRule",
    ]);
    for (const r of custom) {
      expect(r.outputs.stateVersion).toBe(1);
      expect(r.outputs.__provider).toContain('require("pulumi-conntrack/runtime")');
    }
    expect(JSON.stringify(FIXTURE)).not.toMatch(/BEGIN OPENSSH|10\.213\.0\.|ssh-ed25519 AAAA/);
  });
});

describe.skipIf(!lab)("state of release 0.1.0 refreshed and destroyed by today's code (lab)", () => {
  let engine: Engine;
  let pristine: Record<string, string>;
  beforeAll(async () => {
    assertBuilt();
    for (const h of FIXTURE.hosts) await resetHost(h);
    pristine = await snapshotHosts(FIXTURE.hosts, hostExec);
    const pairs = placeholders(hostsConfig(lab!, FIXTURE.hosts), readFileSync(lab!.privateKeyPath, "utf8")).map(
      ([a, b]): [string, string] => [b, a],
    );
    for (const h of FIXTURE.hosts) await restoreArtifacts(h, substitute(FIXTURE.artifacts[h], pairs), hostExec);
    engine = engineFor(path.join(PROGRAMS, "lab-resources"), stackDir("old-state"), {}, FIXTURE.state.stack);
    engine.state.save(substitute(FIXTURE.state, pairs));
  });
  afterAll(async () => {
    for (const h of FIXTURE.hosts) await resetHost(h);
  });

  it("is written to the stack with its secrets encrypted", () => {
    expect(leaksIn(engine.state.raw(), credentialNeedles(lab!.privateKeyPath), "state")).toEqual([]);
  });

  it("refresh keeps every resource, with the ids and the inputs the old release stored", async () => {
    const before = engine.current().resources.filter((r) => r.custom);
    const r = await engine.refresh();
    expectOk(r);
    expect(resourceSteps(r).filter((s) => s.gone)).toEqual([]);
    const after = engine.current().resources.filter((x) => x.custom);
    expect(after.map((x) => [x.urn, x.id])).toEqual(before.map((x) => [x.urn, x.id]));
    for (const b of before) {
      const a = after.find((x) => x.urn === b.urn)!;
      // What the program asked for still matches the host: the next up would change nothing.
      for (const k of Object.keys(b.inputs).filter((k) => k !== "__provider"))
        expect(sameValue(a.inputs[k], b.inputs[k]), `${b.urn} input ${k}`).toBe(true);
      // Nothing else found either (its nftables rule and saved copy have no counter: not drift).
      expect(a.inputs.observedDrift, `${b.urn} observedDrift`).toBeUndefined();
      expect(plainOutputs(a).stateVersion).toBe(1);
    }
  });

  it("destroy removes what the old release made, down to the hosts' pristine bytes", async () => {
    const r = await engine.destroy();
    expectOk(r);
    expect(engine.current().resources).toEqual([]);
    const after = await snapshotHosts(FIXTURE.hosts, hostExec);
    for (const h of FIXTURE.hosts) expect(after[h], `host ${h}`).toBe(pristine[h]);
  });
});
