import { describe, expect, it } from "vitest";
import { parseArgs } from "../../../provider/status/cli";
import { parseHostArg, parseInventory } from "../../../provider/status/inventory";

describe("--inventory and --hosts", () => {
  it("reads the documented YAML subset: defaults, bare addresses and per-host maps", () => {
    const inv = parseInventory(`# fleet
user: ops
key: ~/.ssh/id_ed25519   # the deploy key
sudo: true
hosts:
  - 10.0.0.1
  - host: 10.0.0.2
    port: 2222
    user: root
    sudo: false
  - "fd00::5"
`);
    expect(inv).toEqual({
      user: "ops",
      key: "~/.ssh/id_ed25519",
      sudo: true,
      hosts: [{ host: "10.0.0.1" }, { host: "10.0.0.2", port: 2222, user: "root", sudo: false }, { host: "fd00::5" }],
    });
  });

  it("reads JSON too, and refuses what it does not understand with the line", () => {
    expect(parseInventory('{"hosts":[{"address":"a"}],"port":22}')).toEqual({ hosts: [{ host: "a" }], port: 22 });
    expect(() => parseInventory("hosts:\n  - host: a\n  nonsense\n")).toThrow(/line 3/);
    expect(() => parseInventory("user: x\n")).toThrow(/no hosts/);
  });

  it("splits host:port and [v6]:port", () => {
    expect(parseHostArg("a:2222")).toEqual({ host: "a", port: 2222 });
    expect(parseHostArg("[fd00::1]:22")).toEqual({ host: "fd00::1", port: 22 });
    expect(parseHostArg("fd00::1")).toEqual({ host: "fd00::1" });
  });

  it("parses the command line with defaults (root, 75%, 16 at once) and refuses bad values", () => {
    const o = parseArgs(["--hosts", "a,b:2200", "--warn-at", "90%", "--json", "--known-hosts", "/tmp/kh"]);
    expect(o).toMatchObject({
      hosts: [{ host: "a" }, { host: "b", port: 2200 }],
      user: "root",
      port: 22,
      warnAt: 0.9,
      json: true,
      parallel: 16,
      acceptNew: false,
      knownHosts: "/tmp/kh",
    });
    expect(parseArgs(["--hosts=a"]).warnAt).toBe(0.75);
    expect(() => parseArgs([])).toThrow(/--hosts or --inventory/);
    expect(() => parseArgs(["--hosts", "a", "--warn-at", "120"])).toThrow(/percentage/);
    expect(() => parseArgs(["--hosts", "a", "--bogus"])).toThrow(/unknown option/);
  });
});
