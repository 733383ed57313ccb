import { describe, expect, it } from "vitest";
import { planUnload } from "../../../provider/resources/module-blacklist/unload-order";
import { NAT_LOADED, loadedMap } from "./fixtures";

describe("planUnload (modprobe -r over the live holder graph)", () => {
  it("orders the seed case holders first and predicts the unused dependencies that go with them", () => {
    const p = planUnload(loadedMap(NAT_LOADED), ["nf_conntrack", "nf_nat", "iptable_nat"]);
    expect(p.order).toEqual(["iptable_nat", "nf_nat", "nf_conntrack"]);
    expect(p.dependencies).toEqual(["ip_tables", "x_tables", "libcrc32c", "nf_defrag_ipv4", "nf_defrag_ipv6"]);
    expect(p.blocked).toEqual([]);
    expect(p.removeFirst).toEqual([]);
  });

  it("lets a module go once the holder it shares with a listed module left as a dependency", () => {
    // nf_nat is not listed, but modprobe -r iptable_nat removes it (unused), which frees nf_conntrack.
    const p = planUnload(loadedMap(NAT_LOADED), ["iptable_nat", "nf_conntrack"]);
    expect(p.order).toEqual(["iptable_nat", "nf_conntrack"]);
    expect(p.dependencies).toContain("nf_nat");
    expect(p.blocked).toEqual([]);
  });

  it("refuses a module held by modules outside the list, naming them holders first", () => {
    const p = planUnload(loadedMap(NAT_LOADED), ["nf_conntrack"]);
    expect(p.order).toEqual([]);
    expect(p.blocked).toEqual([{ module: "nf_conntrack", holders: ["nf_nat"], refcnt: 1, otherUsers: 0 }]);
    expect(p.removeFirst).toEqual(["iptable_nat", "nf_nat"]);
  });

  it("refuses a module used by something that is not a module (rules, sockets)", () => {
    const loaded = loadedMap([
      ...NAT_LOADED.map((m) => (m.name === "nf_conntrack" ? { ...m, refcnt: 2, holders: ["nf_nat", "xt_conntrack"] } : m)),
      { name: "xt_conntrack", state: "live", refcnt: 3, holders: [] },
    ]);
    const p = planUnload(loaded, ["iptable_nat", "nf_nat", "nf_conntrack", "xt_conntrack"]);
    // Nothing listed can go without xt_conntrack, except what does not depend on it.
    expect(p.order).toEqual(["iptable_nat", "nf_nat"]);
    expect(p.blocked).toEqual([
      { module: "nf_conntrack", holders: ["xt_conntrack"], refcnt: 2, otherUsers: 0 },
      { module: "xt_conntrack", holders: [], refcnt: 3, otherUsers: 3 },
    ]);
  });

  it("treats a module held by a listed but blocked module as blocked too", () => {
    const loaded = loadedMap([
      { name: "a", state: "live", refcnt: 1, holders: [] },
      { name: "b", state: "live", refcnt: 1, holders: ["a"] },
    ]);
    const p = planUnload(loaded, ["a", "b"]);
    expect(p.blocked.map((b) => b.module)).toEqual(["a", "b"]);
    expect(p.removeFirst).toEqual([]);
  });

  it("ignores modules that are not loaded, and a kernel without unload support (no refcnt)", () => {
    expect(planUnload(loadedMap(NAT_LOADED), ["nf_conntrack_ftp"])).toEqual({
      order: [],
      holdersRemoved: [],
      dependencies: [],
      sequence: [],
      blocked: [],
      removeFirst: [],
    });
    const p = planUnload(loadedMap([{ name: "a", state: "live", refcnt: null, holders: [] }]), ["a"]);
    expect(p.order).toEqual(["a"]);
  });

  it("never cascades into a dependency something else still uses", () => {
    const p = planUnload(loadedMap(NAT_LOADED), ["iptable_nat"]);
    expect(p.dependencies).not.toContain("ext4");
    expect(p.order).toEqual(["iptable_nat"]);
  });

  // issue 12, item 10: unused holders (refcnt 0: no rule, chain or socket uses them) are removed
  // first, in order, instead of blocking the unload.
  const MASQ_LOADED = [
    { name: "xt_MASQUERADE", state: "live", refcnt: 0, holders: [] },
    { name: "nft_chain_nat", state: "live", refcnt: 0, holders: [] },
    { name: "nf_nat", state: "live", refcnt: 2, holders: ["nft_chain_nat", "xt_MASQUERADE"] },
    { name: "nf_conntrack", state: "live", refcnt: 2, holders: ["nf_nat", "xt_MASQUERADE"] },
    { name: "nf_defrag_ipv4", state: "live", refcnt: 1, holders: ["nf_conntrack"] },
    { name: "nf_defrag_ipv6", state: "live", refcnt: 1, holders: ["nf_conntrack"] },
    { name: "nf_tables", state: "live", refcnt: 1, holders: ["nft_chain_nat"] },
  ];

  it("removes unused holders first, holders before what they hold, and keeps the real order", () => {
    const p = planUnload(loadedMap(MASQ_LOADED), ["nf_conntrack"]);
    expect(p.blocked).toEqual([]);
    expect(p.holdersRemoved).toEqual(["nft_chain_nat", "xt_MASQUERADE"]);
    expect(p.order).toEqual(["nft_chain_nat", "xt_MASQUERADE", "nf_conntrack"]);
    // nf_nat and then nf_conntrack leave as unused dependencies of xt_MASQUERADE; nf_conntrack is
    // listed, so it is in order too (its own modprobe -r then finds it gone).
    expect(p.sequence).toEqual([
      "nft_chain_nat",
      "nf_tables",
      "xt_MASQUERADE",
      "nf_nat",
      "nf_conntrack",
      "nf_defrag_ipv4",
      "nf_defrag_ipv6",
    ]);
    expect(p.sequence.indexOf("xt_MASQUERADE")).toBeLessThan(p.sequence.indexOf("nf_nat"));
    expect(p.sequence.indexOf("nf_nat")).toBeLessThan(p.sequence.indexOf("nf_conntrack"));
  });

  it("never removes an unused holder that is used by a rule, or a table module (its rules would go)", () => {
    const used = loadedMap(MASQ_LOADED.map((m) => (m.name === "xt_MASQUERADE" ? { ...m, refcnt: 1 } : m)));
    const p = planUnload(used, ["nf_conntrack"]);
    expect(p.order).toEqual([]);
    expect(p.holdersRemoved).toEqual([]);
    expect(p.blocked.map((b) => b.module)).toEqual(["nf_conntrack"]);
    expect(p.removeFirst).toEqual(["nft_chain_nat", "xt_MASQUERADE", "nf_nat"]);
    // iptable_nat has refcnt 0 whatever rules its table holds: never removed unless listed.
    expect(planUnload(loadedMap(NAT_LOADED), ["nf_conntrack"]).holdersRemoved).toEqual([]);
  });
});
