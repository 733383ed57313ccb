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
    expect(planUnload(loadedMap(NAT_LOADED), ["nf_conntrack_ftp"])).toEqual({ order: [], dependencies: [], blocked: [], removeFirst: [] });
    const p = planUnload(loadedMap([{ name: "a", state: "live", refcnt: null, holders: [] }]), ["a"]);
    expect(p.order).toEqual(["a"]);
  });

  it("never cascades into a dependency something else still uses", () => {
    const p = planUnload(loadedMap(NAT_LOADED), ["iptable_nat"]);
    expect(p.dependencies).not.toContain("ext4");
    expect(p.order).toEqual(["iptable_nat"]);
  });
});
