/**
 * `check` of NotrackRule: defaults and canonical forms, every combination iptables refuses, hostile
 * strings in every field, the lockout guard; all without a host (the SSH pool stays empty).
 */
import { describe, expect, it } from "vitest";
import { UNKNOWN } from "../../../provider/common/unknown";
import { handler } from "../../../provider/runtime";
import { poolSize } from "../../../provider/transport/pool";

// vitest cannot follow kinds.ts's require() into TypeScript sources: register the kind by import.
const h = () => handler("NotrackRule");
// 127.0.0.9 (TEST-NET-1) answers nothing: a call that tried to reach it would fail, not pass.
const conn = { host: "127.0.0.9" };
const base = { connection: conn, ruleName: "dns", chain: "PREROUTING", protocol: "udp", destinationPort: 53 };

async function failures(news: Record<string, unknown>) {
  const r = await h().check({}, news);
  return (r.failures ?? []).map((f) => f.property).sort();
}

describe("check: defaults and canonical forms", () => {
  it("fills defaults", async () => {
    const r = await h().check({}, base);
    expect(r.failures).toBeUndefined();
    expect(r.inputs).toEqual({
      ...base,
      connection: expect.objectContaining({ host: "127.0.0.9", port: 22, user: "root" }),
      family: "ipv4",
      backend: "auto",
      persist: true,
      allowManagementTraffic: false,
    });
  });

  it("normalizes ports, ranges and addresses the way iptables stores them", async () => {
    const r = await h().check(
      {},
      { ...base, sourcePort: "1024-65535", destinationPort: "53", source: "10.1.2.3/8", destination: "192.0.2.9/32" },
    );
    expect(r.inputs).toMatchObject({ sourcePort: "1024:65535", destinationPort: 53, source: "10.0.0.0/8", destination: "192.0.2.9" });
    const v6 = await h().check(
      {},
      { ...base, family: "ipv6", source: "2001:DB8:0:0::1/64", destination: "0::0/0", destinationPort: "53:53" },
    );
    expect(v6.failures).toBeUndefined();
    expect(v6.inputs).toMatchObject({ source: "2001:db8::/64", destinationPort: 53 });
    expect((v6.inputs as Record<string, unknown>).destination).toBeUndefined();
  });

  it("accepts the seed's eight rules and ICMP of each family", async () => {
    for (const chain of ["PREROUTING", "OUTPUT"]) {
      for (const protocol of ["tcp", "udp"]) {
        for (const port of ["sourcePort", "destinationPort"]) {
          expect(await failures({ connection: conn, ruleName: "x", chain, protocol, [port]: 53 })).toEqual([]);
        }
      }
    }
    expect(await failures({ ...base, protocol: "icmp", destinationPort: undefined })).toEqual([]);
    expect(await failures({ ...base, protocol: "icmpv6", family: "ipv6", destinationPort: undefined })).toEqual([]);
    expect(await failures({ ...base, protocol: "sctp", destinationPort: "100:200", inInterface: "eth+" })).toEqual([]);
  });

  it("accepts unknown values during preview", async () => {
    expect(
      (await h().check({}, { ...base, connection: { host: UNKNOWN }, destinationPort: UNKNOWN, source: UNKNOWN })).failures,
    ).toBeUndefined();
  });
});

describe("check: combinations iptables refuses, with the property named", () => {
  it("ports without a protocol that has ports", async () => {
    expect(await failures({ ...base, protocol: "all" })).toEqual(["destinationPort"]);
    expect(await failures({ ...base, protocol: "icmp", destinationPort: undefined, sourcePort: 7 })).toEqual(["sourcePort"]);
  });

  it("interfaces in the wrong chain", async () => {
    expect(await failures({ ...base, outInterface: "eth0" })).toEqual(["outInterface"]);
    expect(await failures({ ...base, chain: "OUTPUT", inInterface: "eth0" })).toEqual(["inInterface"]);
  });

  it("addresses and ICMP of the other family", async () => {
    expect(await failures({ ...base, source: "2001:db8::1" })).toEqual(["source"]);
    expect(await failures({ ...base, family: "ipv6", destination: "192.0.2.1" })).toEqual(["destination"]);
    expect(await failures({ ...base, protocol: "icmpv6", destinationPort: undefined })).toEqual(["protocol"]);
    expect(await failures({ ...base, family: "ipv6", protocol: "icmp", destinationPort: undefined })).toEqual(["protocol"]);
  });

  it("inverted and out-of-range ports", async () => {
    const r = await h().check({}, { ...base, destinationPort: "100:50" });
    expect(r.failures).toEqual([{ property: "destinationPort", reason: expect.stringMatching(/inverted range 100:50/) }]);
    for (const bad of [65536, -1, 1.5, "70000", "1:70000", "a", "", "53,54", " 53", "0x35"]) {
      expect(await failures({ ...base, destinationPort: bad }), String(bad)).toEqual(["destinationPort"]);
    }
  });

  it("bad addresses, interface names, enums and unknown properties", async () => {
    for (const bad of ["example.com", "10.0.0.256", "10.0.0.1/33", "01.2.3.4", "1.2.3.4/255.0.255.0", "::1::2", "10.0.0.0/24/1", ""]) {
      expect(await failures({ ...base, source: bad }), bad).toEqual(["source"]);
    }
    for (const bad of ["", "a-very-long-interface", "eth 0", "+", "eth0++", "eth/0"]) {
      expect(await failures({ ...base, inInterface: bad }), bad).toEqual(["inInterface"]);
    }
    expect(await failures({ ...base, chain: "INPUT", protocol: "gre", family: "ipv5", backend: "pf" })).toEqual([
      "backend",
      "chain",
      "family",
      "protocol",
    ]);
    expect(await failures({ ...base, chain: "prerouting" })).toEqual(["chain"]);
    expect(await failures({ ...base, dport: 53, target: "ACCEPT" })).toEqual(["dport", "target"]);
    expect(await failures({ ...base, ruleName: undefined })).toEqual(["ruleName"]);
  });

  it("refuses observedDrift in a program (refresh sets it)", async () => {
    expect(await failures({ ...base, observedDrift: ["x"] })).toEqual(["observedDrift"]);
  });
});

describe("check: hostile strings", () => {
  const hostile = [
    "53; rm -rf /",
    "$(reboot)",
    "`id`",
    "a\nb",
    "x\n-A PREROUTING -j DROP",
    "'",
    '"',
    "53 -j ACCEPT",
    "eth0\u0000",
    "a|b",
    "-p tcp",
  ];
  const fields = [
    "ruleName",
    "chain",
    "protocol",
    "sourcePort",
    "destinationPort",
    "source",
    "destination",
    "inInterface",
    "family",
    "backend",
  ];

  it("refuses shell metacharacters and newlines in every string field, naming it", async () => {
    for (const field of fields) {
      for (const v of hostile) {
        const news: Record<string, unknown> = { ...base, [field]: v };
        const got = await failures(news);
        expect(got, `${field}=${JSON.stringify(v)}`).toContain(field);
      }
    }
    for (const v of hostile) expect(await failures({ ...base, chain: "OUTPUT", outInterface: v })).toContain("outInterface");
    expect(await failures({ ...base, connection: { host: "h; reboot" } })).toContain("connection.host");
    expect(await failures({ ...base, connection: { host: "h", user: "root\nx" } })).toContain("connection.user");
  });

  it("create refuses them too, before contacting anything", async () => {
    for (const v of hostile) {
      await expect(
        h().create({ ...base, connection: { host: "127.0.0.1", port: 1, dialErrorLimit: 1, perDialTimeout: 1 }, source: v }),
      ).rejects.toThrow(/invalid inputs: source/);
    }
    expect(poolSize()).toBe(0);
  });
});

describe("check: lockout guard", () => {
  const tcp = { connection: { host: "10.213.0.13", port: 22 }, ruleName: "x", protocol: "tcp" };

  it("refuses rules that could match the SSH session, naming the input", async () => {
    const reason = async (news: Record<string, unknown>) => (await h().check({}, news)).failures ?? [];
    expect(await reason({ ...tcp, chain: "PREROUTING", destinationPort: 22 })).toEqual([
      { property: "destinationPort", reason: expect.stringMatching(/allowManagementTraffic/) },
    ]);
    expect(await failures({ ...tcp, chain: "PREROUTING" })).toEqual(["protocol"]);
    expect(await failures({ ...tcp, chain: "PREROUTING", protocol: "all" })).toEqual(["protocol"]);
    expect(await failures({ ...tcp, chain: "OUTPUT", sourcePort: "1:1024" })).toEqual(["sourcePort"]);
    expect(await failures({ ...tcp, chain: "PREROUTING", sourcePort: "1024:65535" })).toEqual(["sourcePort"]);
    expect(await failures({ ...tcp, chain: "PREROUTING", destination: "10.213.0.0/24" })).toEqual(["protocol"]);
    expect(
      await failures({
        ...tcp,
        connection: { host: "ssh.example.com", port: 2222 },
        chain: "PREROUTING",
        destinationPort: 2222,
        destination: "192.0.2.1",
      }),
    ).toEqual(["destinationPort"]);
  });

  it("allows what cannot match, and anything with allowManagementTraffic", async () => {
    expect(await failures({ ...tcp, chain: "PREROUTING", destinationPort: 53 })).toEqual([]);
    expect(await failures({ ...tcp, chain: "PREROUTING", sourcePort: 53 })).toEqual([]);
    expect(await failures({ ...tcp, chain: "OUTPUT", sourcePort: 53 })).toEqual([]);
    expect(await failures({ ...tcp, chain: "OUTPUT", destinationPort: 53 })).toEqual([]);
    expect(await failures({ ...tcp, chain: "PREROUTING", destination: "10.213.0.99" })).toEqual([]);
    expect(await failures({ ...tcp, chain: "PREROUTING", protocol: "udp" })).toEqual([]);
    expect(await failures({ ...tcp, family: "ipv6", chain: "PREROUTING", destinationPort: 22 })).toEqual([]);
    expect(await failures({ ...tcp, chain: "PREROUTING", destinationPort: 22, allowManagementTraffic: true })).toEqual([]);
    expect(await failures({ ...tcp, connection: { host: "10.213.0.13", port: 2222 }, chain: "PREROUTING", destinationPort: 22 })).toEqual(
      [],
    );
  });
});

describe("diff: no host needed", () => {
  const olds = {
    ...base,
    connection: { ...conn, port: 22 },
    family: "ipv4",
    backend: "auto",
    persist: true,
    allowManagementTraffic: false,
    tag: "t",
    resolvedBackend: "iptables-nft",
  };

  it("match fields update in place; host, family, backend and ruleName replace", async () => {
    expect(await h().diff("t", olds, { ...olds, destinationPort: 54 })).toMatchObject({ changes: true, replaces: [] });
    expect(await h().diff("t", olds, { ...olds, persist: false })).toMatchObject({ changes: true, replaces: [] });
    expect(await h().diff("t", olds, { ...olds, family: "ipv6" })).toMatchObject({ replaces: ["family"] });
    expect(await h().diff("t", olds, { ...olds, backend: "nftables" })).toMatchObject({ replaces: ["backend"] });
    expect(await h().diff("t", olds, { ...olds, ruleName: "other" })).toMatchObject({ replaces: ["ruleName"] });
    expect(await h().diff("t", olds, { ...olds, connection: { host: "127.0.0.8", port: 22 } })).toMatchObject({ replaces: ["connection"] });
    const news = (await h().check({}, base)).inputs;
    expect(await h().diff("t", olds, news)).toMatchObject({ changes: false });
    expect(await h().diff("t", { ...olds, observedDrift: ["extra"] }, { ...olds })).toMatchObject({ changes: true, replaces: [] });
    expect(poolSize()).toBe(0);
  });
});
