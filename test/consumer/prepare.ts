/**
 * A consumer's project, as a user gets it: the package packed with `npm pack` (so what `files`,
 * `exports` and the `prepack` build leave out is missing here too) and installed from the tarball
 * into a fresh directory outside the repository, next to a chosen `@pulumi/pulumi`, with one of
 * `examples/` as the program. Nothing resolves through the repository's `node_modules` or its
 * `file:.` self-link.
 *
 * Installing needs the npm registry (or a warm npm cache: `--prefer-offline`). Where the tests run
 * without network (the lab sandbox), prepare the projects first from a shell that has it:
 *
 *     npx tsx test/consumer/prepare.ts            # every SDK version the consumer tests use
 *
 * A prepared project is reused while the tarball, the example and the SDK version are the same.
 * Independent of the engine stand-in: a real-CLI tier can run `pulumi up` in the same directory.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { CONSUMER_SDK_VERSIONS } from "./sdk-versions";

/** Repository root. */
export const REPO = path.resolve(__dirname, "..", "..");

/** A prepared consumer project. */
export interface ConsumerProject {
  /** The project directory (`Pulumi.yaml`, the program, `node_modules`). */
  dir: string;
  /** The `@pulumi/pulumi` version installed in it. */
  sdk: string;
  /** The tarball it was installed from. */
  tarball: string;
  /** The example it runs. */
  example: string;
}

/** What to prepare. */
export interface ConsumerOptions {
  /** Exact `@pulumi/pulumi` version to install next to the package. */
  sdk: string;
  /** Folder under `examples/` (default `dns-servers`). */
  example?: string;
}

/**
 * Where consumer projects live: under the OS temp directory, outside the repository (Node's module
 * resolution walks up parent directories: inside the repository, a dependency missing from the
 * tarball would be found in the repository's `node_modules`). One subdirectory per checkout.
 */
export function consumerRoot(): string {
  const checkout = createHash("sha256").update(REPO).digest("hex").slice(0, 10);
  return path.join(tmpdir(), "pulumi-conntrack-consumer", checkout);
}

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} (in ${cwd}) failed with exit ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

/**
 * `npm pack` of the repository into `dest` (the `prepack` script builds `dist/` first).
 * @returns the tarball's path.
 */
export function packPackage(dest: string): string {
  mkdirSync(dest, { recursive: true });
  const out = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", dest], REPO)) as { filename: string }[];
  return path.join(dest, out[0].filename);
}

function hashOf(...parts: (string | Buffer)[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p).update("\0");
  return h.digest("hex");
}

/** The example's files, as a user would copy them (its own `package.json` is rewritten). */
function exampleFiles(example: string): string[] {
  const src = path.join(REPO, "examples", example);
  if (!existsSync(path.join(src, "Pulumi.yaml"))) throw new Error(`examples/${example} is not a Pulumi project`);
  return readdirSync(src)
    .filter((f) => f !== "node_modules" && f !== "package-lock.json")
    .sort();
}

/**
 * A project directory with the packed package and `@pulumi/pulumi@<sdk>` installed, running
 * `examples/<example>`. Packs the repository every time (cheap) and installs only when the tarball,
 * the example or the SDK version changed since the last preparation.
 */
export function prepareConsumer(o: ConsumerOptions): ConsumerProject {
  const example = o.example ?? "dns-servers";
  const root = consumerRoot();
  const packDir = mkdtempSync(path.join(tmpdir(), "ctk-pack-"));
  try {
    const packed = packPackage(packDir);
    const src = path.join(REPO, "examples", example);
    const files = exampleFiles(example);
    const key = hashOf(readFileSync(packed), o.sdk, example, ...files.flatMap((f) => [f, readFileSync(path.join(src, f))]));
    const dir = path.join(root, `${example}-sdk-${o.sdk}`);
    const tarball = path.join(root, `pulumi-conntrack-${key.slice(0, 12)}.tgz`);
    const marker = path.join(dir, ".prepared");
    if (existsSync(marker) && readFileSync(marker, "utf8") === key && existsSync(tarball)) return { dir, sdk: o.sdk, tarball, example };

    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    cpSync(packed, tarball);
    for (const f of files) cpSync(path.join(src, f), path.join(dir, f), { recursive: true });
    // The example's own package.json with the package from the tarball instead of `file:../..`
    // and the SDK version under test: what a user's project holds after `npm install`.
    const pkg = JSON.parse(readFileSync(path.join(src, "package.json"), "utf8")) as { dependencies: Record<string, string> };
    pkg.dependencies = { ...pkg.dependencies, "@pulumi/pulumi": o.sdk, "pulumi-conntrack": `file:${tarball}` };
    writeFileSync(path.join(dir, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
    run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], dir);
    writeFileSync(marker, key);
    return { dir, sdk: o.sdk, tarball, example };
  } finally {
    rmSync(packDir, { recursive: true, force: true });
  }
}

/** The version of a package as installed in a project (`undefined` when it is not installed there). */
export function installedVersion(dir: string, name: string): string | undefined {
  const p = path.join(dir, "node_modules", name, "package.json");
  return existsSync(p) ? (JSON.parse(readFileSync(p, "utf8")) as { version: string }).version : undefined;
}

// `npx tsx test/consumer/prepare.ts [sdk...]`: prepare ahead of a run without network.
if (require.main === module) {
  const versions = process.argv.slice(2).length ? process.argv.slice(2) : [...CONSUMER_SDK_VERSIONS];
  for (const sdk of versions) {
    const p = prepareConsumer({ sdk });
    console.log(`consumer project with @pulumi/pulumi ${sdk}: ${p.dir}`);
  }
}
