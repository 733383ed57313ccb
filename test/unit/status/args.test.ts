import { describe, expect, it } from "vitest";
import { commandOf, EXIT_USAGE, expandHome, parseStatusArgs, type ArgsEnvironment } from "../../../provider/status/args";

const files: Record<string, string> = {
  "/home/op/hosts.yaml": "user: admin\nport: 2200\nhosts:\n  - dns1\n  - host: dns2\n    port: 22\n",
};
const env: ArgsEnvironment = {
  home: "/home/op",
  readText: (file) => {
    const t = files[file];
    if (t === undefined) throw new Error(`ENOENT: no such file or directory, open '${file}'`);
    return t;
  },
};

describe("expandHome", () => {
  it("expands ~ and ~/ only", () => {
    expect(expandHome("~", "/home/op")).toBe("/home/op");
    expect(expandHome("~/k", "/home/op")).toBe("/home/op/k");
    expect(expandHome("~other/k", "/home/op")).toBe("~other/k");
    expect(expandHome("/etc/k", "/home/op")).toBe("/etc/k");
  });
});

describe("parseStatusArgs", () => {
  it("takes defaults, and known_hosts under the given home", () => {
    expect(parseStatusArgs(["--hosts", "a"], env)).toEqual({
      hosts: [{ host: "a" }],
      user: "root",
      key: undefined,
      port: 22,
      sudo: false,
      knownHosts: "/home/op/.ssh/known_hosts",
      acceptNew: false,
      json: false,
      warnAt: 0.75,
      parallel: 16,
      connectTimeout: 10,
    });
  });

  it("reads the inventory through the environment, its defaults under the options", () => {
    const o = parseStatusArgs(
      ["--inventory", "~/hosts.yaml", "--user", "ops", "--sudo", "--accept-new", "--parallel=4", "--connect-timeout", "3"],
      env,
    );
    expect(o.hosts.map((h) => h.host)).toEqual(["dns1", "dns2"]);
    expect(o).toMatchObject({ user: "ops", port: 2200, sudo: true, acceptNew: true, parallel: 4, connectTimeout: 3 });
  });

  it("refuses what it cannot use", () => {
    expect(() => parseStatusArgs(["--hosts"], env)).toThrow("--hosts needs a value");
    expect(() => parseStatusArgs(["--hosts", " , "], env)).toThrow("--hosts lists no host");
    expect(() => parseStatusArgs(["--hosts", "a", "--inventory", "x"], env)).toThrow(/one of them/);
    expect(() => parseStatusArgs(["--hosts", "a", "--port", "0"], env)).toThrow("--port must be an integer >= 1, got 0");
    expect(() => parseStatusArgs(["--hosts", "a", "--parallel", "1.5"], env)).toThrow(/--parallel must be an integer/);
  });
});

describe("commandOf", () => {
  it("prints the usage: exit 0 when asked, the usage code when nothing was given", () => {
    expect(commandOf(["--help"], env)).toEqual({ kind: "usage", exitCode: 0 });
    expect(commandOf(["-h"], env)).toEqual({ kind: "usage", exitCode: 0 });
    expect(commandOf([], env)).toEqual({ kind: "usage", exitCode: EXIT_USAGE });
  });

  it("refuses an unknown command", () => {
    expect(commandOf(["stats"], env)).toEqual({ kind: "refused", message: "unknown command stats", exitCode: EXIT_USAGE });
  });

  it("refuses bad options and an unreadable inventory as usage errors", () => {
    expect(commandOf(["status", "--bogus"], env)).toEqual({
      kind: "refused",
      message: "pulumi-conntrack status: unknown option --bogus",
      exitCode: EXIT_USAGE,
    });
    const missing = commandOf(["status", "--inventory", "/nope.yaml"], env);
    expect(missing.kind === "refused" && missing.message).toMatch(/^pulumi-conntrack status: ENOENT/);
  });

  it("runs status with its options", () => {
    const c = commandOf(["status", "--hosts", "a,b:2200", "--json"], env);
    expect(c.kind === "status" && c.options.hosts).toEqual([{ host: "a" }, { host: "b", port: 2200 }]);
    expect(c.kind === "status" && c.options.json).toBe(true);
  });
});
