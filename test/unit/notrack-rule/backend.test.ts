import { describe, expect, it } from "vitest";
import { persistenceFor, resolveBackend } from "../../../provider/resources/notrack-rule/host/backend";
import { parseFacts } from "../../../provider/transport/facts";
import { file, observed } from "./fixtures";

describe("resolveBackend", () => {
  const legacy = { iptables: { current: "legacy" as const, version: "iptables v1.8.9 (legacy)" } };
  it("auto follows what the host runs", () => {
    expect(resolveBackend("auto", observed())).toMatchObject({ ok: true, backend: "nftables" });
    expect(resolveBackend("auto", observed({ nft: { tables: ["ip filter", "ip nat"] } }))).toMatchObject({
      ok: true,
      backend: "iptables-nft",
      reason: expect.stringMatching(/ip filter/),
    });
    expect(resolveBackend("auto", observed(legacy))).toMatchObject({ ok: true, backend: "iptables-legacy" });
    expect(resolveBackend("auto", observed({ ...legacy, nft: { tables: ["inet filter"] } }))).toMatchObject({
      ok: true,
      backend: "nftables",
    });
    expect(resolveBackend("auto", observed({ ...legacy, legacyTables: ["filter"], nft: { tables: ["inet filter"] } }))).toMatchObject({
      ok: true,
      backend: "iptables-legacy",
    });
    expect(resolveBackend("auto", observed({ nft: { tables: ["ip filter", "inet pulumi_conntrack"] } }))).toMatchObject({
      ok: true,
      backend: "nftables",
    });
    expect(resolveBackend("auto", observed({ nft: { present: false } }))).toMatchObject({ ok: true, backend: "iptables-nft" });
    expect(resolveBackend("auto", observed({ iptables: { present: false } }))).toMatchObject({ ok: true, backend: "nftables" });
    expect(resolveBackend("auto", observed({ iptables: { present: false }, nft: { present: false } }))).toMatchObject({ ok: false });
  });

  it("iptables means the host's variant; explicit choices need their tool", () => {
    expect(resolveBackend("iptables", observed(legacy))).toMatchObject({ ok: true, backend: "iptables-legacy" });
    expect(resolveBackend("iptables", observed())).toMatchObject({ ok: true, backend: "iptables-nft" });
    expect(resolveBackend("iptables", observed({ iptables: { present: false } }))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/not installed/),
    });
    expect(resolveBackend("nftables", observed({ nft: { present: false } }))).toMatchObject({ ok: false });
  });
});

describe("persistenceFor", () => {
  it("Debian, RHEL, nftables, none, disabled", () => {
    const withNp = parseFacts("bin.netfilter-persistent=/usr/sbin/netfilter-persistent\nos.ID=debian");
    expect(persistenceFor("iptables-nft", observed({ facts: withNp }), true)).toEqual({
      mechanism: "netfilter-persistent",
      file: "/etc/iptables/rules.v4",
    });
    expect(persistenceFor("iptables-nft", observed({ family: "ipv6", persist: { etcIptablesDir: true } } as never), true)).toMatchObject({
      mechanism: "netfilter-persistent",
      file: "/etc/iptables/rules.v6",
      note: expect.stringMatching(/not installed/),
    });
    expect(persistenceFor("iptables-legacy", observed({ persist: { files: { "/etc/sysconfig/iptables": file("") } } }), true)).toEqual({
      mechanism: "iptables-services",
      file: "/etc/sysconfig/iptables",
    });
    const rhel = parseFacts("os.ID=rocky\nos.ID_LIKE=rhel centos fedora");
    expect(
      persistenceFor("iptables-nft", observed({ facts: rhel, family: "ipv6", persist: { sysconfigDir: true } } as never), true),
    ).toEqual({ mechanism: "iptables-services", file: "/etc/sysconfig/ip6tables" });
    expect(persistenceFor("iptables-nft", observed({ persist: { sysconfigDir: true } }), true)).toMatchObject({
      mechanism: "none",
      note: expect.stringMatching(/gone after a reboot/),
    });
    expect(
      persistenceFor("nftables", observed({ persist: { nftService: "enabled", files: { "/etc/nftables.conf": file("") } } }), true),
    ).toEqual({ mechanism: "nftables", file: "/etc/nftables.conf" });
    expect(persistenceFor("nftables", observed(), true)).toMatchObject({ mechanism: "none" });
    expect(persistenceFor("nftables", observed(), false)).toMatchObject({ mechanism: "disabled" });
  });

  it("warns when Debian's nftables.service would flush iptables-nft rules at boot", () => {
    const o = observed({
      persist: {
        etcIptablesDir: true,
        nftService: "enabled",
        files: { "/etc/nftables.conf": file("#!/usr/sbin/nft -f\n\nflush ruleset\n") },
      },
    });
    expect(persistenceFor("iptables-nft", o, true).note).toMatch(/flush ruleset/);
    expect(persistenceFor("iptables-legacy", o, true).note).not.toMatch(/flush ruleset/);
  });
});
