import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { expandServicePort, NotrackServicePort } from "../../../provider/resources/notrack-rule/service-port";
import { ruleNameFor } from "../../../provider/resources/notrack-rule/resource";

describe("expandServicePort", () => {
  it("role both, TCP and UDP: the seed's eight rules for one family", () => {
    const rules = expandServicePort({ port: 53, role: "both" });
    expect(rules.map(({ chain, protocol, sourcePort, destinationPort }) => ({ chain, protocol, sourcePort, destinationPort }))).toEqual(
      expect.arrayContaining([
        { chain: "PREROUTING", protocol: "tcp", destinationPort: 53, sourcePort: undefined },
        { chain: "PREROUTING", protocol: "udp", destinationPort: 53, sourcePort: undefined },
        { chain: "PREROUTING", protocol: "tcp", sourcePort: 53, destinationPort: undefined },
        { chain: "PREROUTING", protocol: "udp", sourcePort: 53, destinationPort: undefined },
        { chain: "OUTPUT", protocol: "tcp", sourcePort: 53, destinationPort: undefined },
        { chain: "OUTPUT", protocol: "udp", sourcePort: 53, destinationPort: undefined },
        { chain: "OUTPUT", protocol: "tcp", destinationPort: 53, sourcePort: undefined },
        { chain: "OUTPUT", protocol: "udp", destinationPort: 53, sourcePort: undefined },
      ]),
    );
    expect(rules).toHaveLength(8);
    expect(new Set(rules.map((r) => r.suffix)).size).toBe(8);
    expect(rules.every((r) => r.family === "ipv4")).toBe(true);
  });

  it("server and client halves, families, protocols", () => {
    const server = expandServicePort({ port: 53, protocols: ["udp"] });
    expect(server.map((r) => [r.chain, r.destinationPort ?? null, r.sourcePort ?? null])).toEqual([
      ["PREROUTING", 53, null],
      ["OUTPUT", null, 53],
    ]);
    const client = expandServicePort({ port: 123, protocols: ["udp"], role: "client", families: ["ipv4", "ipv6"] });
    expect(client.map((r) => `${r.family} ${r.chain} ${r.destinationPort ?? "-"} ${r.sourcePort ?? "-"}`)).toEqual([
      "ipv4 OUTPUT 123 -",
      "ipv4 PREROUTING - 123",
      "ipv6 OUTPUT 123 -",
      "ipv6 PREROUTING - 123",
    ]);
    expect(expandServicePort({ port: 53, role: "both", families: ["ipv4", "ipv6"] })).toHaveLength(16);
  });

  it("rule names from resource names", () => {
    expect(ruleNameFor("dns-ipv4-udp-in-dport")).toBe("dns-ipv4-udp-in-dport");
    expect(ruleNameFor("a b/c:d")).toBe("a-b-c-d");
    expect(ruleNameFor("x".repeat(100))).toHaveLength(80);
  });
});

describe("NotrackServicePort component", () => {
  it("registers one NotrackRule per expanded rule, as children, with the connection marked secret", async () => {
    const registered: Array<{ type: string; name: string; inputs: Record<string, unknown> }> = [];
    await pulumi.runtime.setMocks(
      {
        newResource: (args) => {
          registered.push({ type: args.type, name: args.name, inputs: args.inputs });
          return { id: `${args.name}-id`, state: { ...args.inputs, tag: `pulumi-conntrack:${args.inputs.ruleName}:0000000000` } };
        },
        call: () => ({}),
      },
      "project",
      "stack",
      true,
    );
    const c = new NotrackServicePort("dns", {
      connection: { host: "127.0.0.9" },
      port: 53,
      role: "both",
      families: ["ipv4", "ipv6"],
      backend: "iptables",
    });
    const tags = await Promise.all(c.rules.map((r) => new Promise((res) => r.tag.apply(res))));
    expect(tags).toHaveLength(16);
    const rules = registered.filter((r) => r.type === "pulumi-nodejs:dynamic/conntrack:NotrackRule");
    expect(rules).toHaveLength(16);
    expect(rules.map((r) => r.name)).toContain("dns-ipv6-udp-in-dport");
    const one = rules.find((r) => r.name === "dns-ipv4-tcp-out-sport")!;
    expect(one.inputs).toMatchObject({
      ruleName: "dns-ipv4-tcp-out-sport",
      chain: "OUTPUT",
      protocol: "tcp",
      sourcePort: 53,
      family: "ipv4",
      backend: "iptables",
    });
  });
});
