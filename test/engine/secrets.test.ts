import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostExec, isRoot, labRunning, loadLab, resetHost, type LabInventory } from "../lab/inventory";
import { credentialNeedles, leaksIn, leaksInLogs } from "./credentials";
import { assertBuilt, engineFor, PROGRAMS, stackDir, TEST_PASSWORD } from "./harness";
import { hostsConfig, snapshotHost } from "./lab-hosts";
import { expectOk } from "./lifecycle";

// Credentials a user hands over the way most programs do, as plain strings (read from a file, typed
// in config without --secret): the resources must still keep them out of state and logs.
const PROGRAM = path.join(PROGRAMS, "lab-resources");
const lab = isRoot() && labRunning() ? (loadLab() as LabInventory) : undefined;

describe.skipIf(!lab)("credentials passed as plain strings (lab)", () => {
  const needles = () => credentialNeedles(lab!.privateKeyPath, TEST_PASSWORD);
  const base = () => ({
    hosts: hostsConfig(lab!, ["ctlab10"]),
    keyFile: lab!.privateKeyPath,
    plainCredentials: true,
    password: TEST_PASSWORD,
  });
  beforeAll(async () => {
    assertBuilt();
    await resetHost("ctlab10");
  });
  afterAll(async () => {
    await resetHost("ctlab10");
  });

  it("are stored only encrypted, in inputs and outputs of every resource type", async () => {
    const e = engineFor(PROGRAM, stackDir("secrets"), {
      ...base(),
      resources: [
        { kind: "ConntrackHelperSetting", name: "helper", host: "ctlab10" },
        { kind: "NotrackRule", name: "rule", host: "ctlab10", args: { chain: "OUTPUT", protocol: "udp", destinationPort: 53 } },
        { kind: "ModuleBlacklist", name: "bl", host: "ctlab10", args: { modules: ["nf_nat"] } },
      ],
    });
    const up = await e.up();
    expectOk(up);
    // Searched per resource and part, so that a failure says where the credential sits.
    const stored = JSON.parse(e.state.raw()) as { resources: { urn: string; inputs: unknown; outputs: unknown }[] };
    const leaks = [
      ...stored.resources.flatMap((r) => [
        ...leaksIn(JSON.stringify(r.inputs), needles(), `state: inputs of ${r.urn.split("::").slice(-2).join(" ")}`),
        ...leaksIn(JSON.stringify(r.outputs), needles(), `state: outputs of ${r.urn.split("::").slice(-2).join(" ")}`),
      ]),
      ...leaksIn(e.state.raw(), needles(), "state file"),
      ...leaksInLogs(e.allLogs, needles(), "logs"),
    ];
    const d = await e.destroy();
    expectOk(d);
    expect(leaks).toEqual([]);
  });

  it("do not appear in the error of a failed login", async () => {
    const before = await snapshotHost("ctlab10", hostExec);
    const e = engineFor(PROGRAM, stackDir("secrets-fail"), {
      ...base(),
      omitKey: true,
      resources: [{ kind: "ConntrackHelperSetting", name: "helper", host: "ctlab10" }],
    });
    const r = await e.up();
    expect(r.ok).toBe(false);
    expect(r.errors.join("\n")).toMatch(/root@10\.213\.0\.20:22/);
    expect(leaksIn(r.errors.join("\n"), needles(), "errors")).toEqual([]);
    expect(leaksInLogs(e.allLogs, needles(), "logs")).toEqual([]);
    if (e.state.exists()) expect(leaksIn(e.state.raw(), needles(), "state")).toEqual([]);
    expect(await snapshotHost("ctlab10", hostExec)).toBe(before);
  });
});
