/**
 * `check` at the edges found by hostile testing: what it returns must serialize (no `undefined`
 * anywhere), what can never work is refused before any dial, and with unknown values (preview) every
 * known part is still validated, defaulted and guarded. No host is contacted.
 */
import { describe, expect, it } from "vitest";
import { UNKNOWN } from "../../../provider/common/unknown";
import { handler } from "../../../provider/runtime";
import { poolSize } from "../../../provider/transport/pool";

const h = () => handler("NotrackRule");
const conn = { host: "127.0.0.9" };
const base = { connection: conn, ruleName: "dns", chain: "PREROUTING", protocol: "udp", destinationPort: 53 };
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

function undefinedPaths(v: unknown, path = ""): string[] {
  if (v === undefined) return [path || "(root)"];
  if (Array.isArray(v)) return v.flatMap((x, i) => undefinedPaths(x, `${path}[${i}]`));
  if (v && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => undefinedPaths(x, path ? `${path}.${k}` : k));
  return [];
}

async function props(news: Record<string, unknown>, olds: Record<string, unknown> = {}) {
  const r = await h().check(olds, news);
  return {
    failures: (r.failures ?? []).map((f) => f.property).sort(),
    reasons: (r.failures ?? []).map((f) => f.reason),
    inputs: r.inputs as Record<string, unknown>,
  };
}

describe("check returns what the engine can serialize", () => {
  it.each(["0.0.0.0/0", "10.0.0.0/0", "0.0.0.0/0.0.0.0"])(
    "a /0 source or destination (%s) is no restriction, and no undefined value",
    async (a) => {
      const r = await props({ ...base, source: a, destination: a });
      expect(r.failures).toEqual([]);
      expect(undefinedPaths(r.inputs)).toEqual([]);
      expect(r.inputs).not.toHaveProperty("source");
      expect(r.inputs).not.toHaveProperty("destination");
    },
  );

  it("an ipv6 ::/0 likewise", async () => {
    const r = await props({ ...base, family: "ipv6", source: "::/0" });
    expect(r.failures).toEqual([]);
    expect(undefinedPaths(r.inputs)).toEqual([]);
  });

  it.each(["ConntrackHelperSetting", "ModuleBlacklist"])("%s check returns no undefined value either", async (type) => {
    const r = await handler(type).check({}, { connection: { ...conn, password: undefined, hostKey: undefined } });
    expect(undefinedPaths(r.inputs)).toEqual([]);
  });
});

describe("check refuses what can never work", () => {
  it.each(["not-a-key", "ssh-ed25519 AAAA", "SHA256:short", "ssh-rsa " + KEY.split(" ")[1]])(
    "a malformed hostKey (%s)",
    async (hostKey) => {
      const r = await props({ ...base, connection: { ...conn, hostKey } });
      expect(r.failures).toEqual(["connection.hostKey"]);
      expect(poolSize()).toBe(0);
    },
  );

  it("accepts a key line, a known_hosts line and a fingerprint", async () => {
    for (const hostKey of [KEY, `10.0.0.5 ${KEY}`, "SHA256:" + "A".repeat(43)])
      expect((await props({ ...base, connection: { ...conn, hostKey } })).failures).toEqual([]);
  });

  it("a bastion's malformed hostKey too", async () => {
    expect((await props({ ...base, connection: { ...conn, proxy: { host: "10.0.0.1", hostKey: "nope" } } })).failures).toEqual([
      "connection.proxy.hostKey",
    ]);
  });

  it("a perDialTimeout beyond Node's timer range, and accepts its upper bound", async () => {
    expect((await props({ ...base, connection: { ...conn, perDialTimeout: 2147484 } })).failures).toEqual(["connection.perDialTimeout"]);
    expect((await props({ ...base, connection: { ...conn, perDialTimeout: 1e12 } })).failures).toEqual(["connection.perDialTimeout"]);
    expect((await props({ ...base, connection: { ...conn, perDialTimeout: 2147483 } })).failures).toEqual([]);
  });

  it("an interface name the kernel refuses: 16 characters with the +, '.' and '..'", async () => {
    expect((await props({ ...base, inInterface: "a".repeat(15) + "+" })).failures).toEqual(["inInterface"]);
    expect((await props({ ...base, inInterface: "a".repeat(16) })).failures).toEqual(["inInterface"]);
    expect((await props({ ...base, inInterface: "." })).failures).toEqual(["inInterface"]);
    expect((await props({ ...base, inInterface: ".." })).failures).toEqual(["inInterface"]);
    expect((await props({ ...base, inInterface: "a".repeat(14) + "+" })).failures).toEqual([]);
    expect((await props({ ...base, inInterface: "a".repeat(15) })).failures).toEqual([]);
  });
});

describe("check with unknown values (preview)", () => {
  it("keeps unknowns unknown and applies every default", async () => {
    const r = await props({ ...base, connection: { host: UNKNOWN }, destinationPort: UNKNOWN });
    expect(r.failures).toEqual([]);
    expect(r.inputs).toEqual({
      ...base,
      connection: { host: UNKNOWN, port: 22, user: "root", dialErrorLimit: 10, perDialTimeout: 15, sudo: false },
      destinationPort: UNKNOWN,
      family: "ipv4",
      backend: "auto",
      persist: true,
      allowManagementTraffic: false,
    });
    expect(undefinedPaths(r.inputs)).toEqual([]);
  });

  it("normalizes the known parts", async () => {
    const r = await props({ ...base, connection: { ...conn, privateKey: UNKNOWN }, sourcePort: "1024-65535", source: "10.1.2.3/8" });
    expect(r.failures).toEqual([]);
    expect(r.inputs).toMatchObject({
      sourcePort: "1024:65535",
      source: "10.0.0.0/8",
      connection: { host: "127.0.0.9", privateKey: UNKNOWN, port: 22 },
    });
  });

  it("still refuses known bad values, unknown properties and combinations of known values", async () => {
    expect((await props({ ...base, connection: { host: UNKNOWN, port: 0 } })).failures).toEqual(["connection.port"]);
    expect((await props({ ...base, connection: { ...conn, privateKey: UNKNOWN, hostKey: "nope" } })).failures).toEqual([
      "connection.hostKey",
    ]);
    expect((await props({ ...base, connection: { ...conn, password: UNKNOWN, bogus: 1 } })).failures).toEqual(["connection.bogus"]);
    expect((await props({ ...base, source: UNKNOWN, protocol: "icmp", destinationPort: 53 })).failures).toEqual(["destinationPort"]);
    expect((await props({ ...base, source: UNKNOWN, chain: "OUTPUT", inInterface: "eth0" })).failures).toEqual(["inInterface"]);
    expect((await props({ ...base, source: UNKNOWN, inInterface: "a".repeat(15) + "+" })).failures).toEqual(["inInterface"]);
  });

  it("skips a combination whose values are not known yet", async () => {
    expect((await props({ ...base, protocol: UNKNOWN, destinationPort: 53 })).failures).toEqual([]);
    expect((await props({ ...base, chain: UNKNOWN, inInterface: "eth0" })).failures).toEqual([]);
  });

  it("runs the lockout guard when the rule and the endpoint are known, whatever else is not", async () => {
    const ssh = { ...base, protocol: "tcp", destinationPort: 22 };
    expect((await props({ ...ssh, connection: { ...conn, privateKey: UNKNOWN } })).failures).toEqual(["destinationPort"]);
    expect((await props({ ...ssh, ruleName: UNKNOWN })).failures).toEqual(["destinationPort"]);
    // Not when what it reads is unknown: the engine checks again once it is known.
    expect((await props({ ...ssh, destinationPort: UNKNOWN })).failures).toEqual([]);
    expect((await props({ ...ssh, connection: { host: "127.0.0.9", port: UNKNOWN } })).failures).toEqual([]);
    expect((await props({ ...ssh, connection: { ...conn, privateKey: UNKNOWN }, allowManagementTraffic: true })).failures).toEqual([]);
  });

  it("contacts no host", () => {
    expect(poolSize()).toBe(0);
  });
});

describe("owner: fixed once the resource exists", () => {
  it("a new resource keeps the owner the program passes", async () => {
    expect((await props({ ...base, owner: "p/s//dns" })).inputs.owner).toBe("p/s//dns");
  });

  it("an existing one keeps its stored owner (a rename with an alias shows no change)", async () => {
    const olds = (await props({ ...base, owner: "p/s//dns" })).inputs;
    expect((await props({ ...base, owner: "p/s//renamed" }, olds)).inputs.owner).toBe("p/s//dns");
  });

  it("state from before the input existed keeps not having it", async () => {
    const olds = (await props(base)).inputs;
    const r = await props({ ...base, owner: "p/s//dns" }, olds);
    expect(r.inputs).not.toHaveProperty("owner");
    expect(undefinedPaths(r.inputs)).toEqual([]);
  });
});
