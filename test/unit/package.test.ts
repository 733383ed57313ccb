import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { SDK_LOW, SDK_NEWEST_NODE20 } from "../consumer/sdk-versions";

// The manifest promises what test/consumer proves: the SDK is the user's (a peer), over the range
// whose ends the consumer test installs; the repository's own pin is a dev dependency inside it.
const pkg = JSON.parse(readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")) as {
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  overrides?: Record<string, string>;
  allowScripts?: Record<string, boolean>;
  files?: string[];
  exports?: Record<string, unknown>;
};

const minor = (v: string) => Number(/^3\.(\d+)\.\d+$/.exec(v)?.[1] ?? NaN);

describe("package.json", () => {
  it("@pulumi/pulumi is a peer over the tested range, not a dependency", () => {
    expect(pkg.dependencies?.["@pulumi/pulumi"]).toBeUndefined();
    expect(pkg.peerDependencies?.["@pulumi/pulumi"]).toBe(`^${SDK_LOW}`);
  });

  it("the dev pin is exact and inside the range; overrides follow it", () => {
    const dev = pkg.devDependencies?.["@pulumi/pulumi"] ?? "";
    expect(dev).toMatch(/^3\.\d+\.\d+$/);
    expect(minor(dev)).toBeGreaterThanOrEqual(minor(SDK_LOW));
    expect(minor(SDK_NEWEST_NODE20)).toBeGreaterThanOrEqual(minor(dev));
    // `$name` makes the override the direct dependency's version: one SDK in the tree, one place to bump.
    expect(pkg.overrides?.["@pulumi/pulumi"]).toBe("$@pulumi/pulumi");
  });

  it("ships the build only, with the root and the runtime entry", () => {
    expect(pkg.files).toEqual(["dist/provider", "README.md"]);
    expect(Object.keys(pkg.exports ?? {}).sort()).toEqual([".", "./package.json", "./runtime"]);
  });

  it("every dependency install script is decided (npm 11 allowScripts): none is needed", () => {
    expect(pkg.allowScripts).toEqual({ "@pulumi/command": false, "cpu-features": false, esbuild: false, protobufjs: false, ssh2: false });
  });
});
