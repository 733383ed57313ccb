import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";

/** A Pulumi project (`Pulumi.yaml`) and one of its stacks' configuration. */
export interface Project {
  /** Directory holding `Pulumi.yaml`. */
  dir: string;
  name: string;
  /** Program entry relative to `dir` (`main`, or "." for the package's entry). */
  main: string;
  /** `runtime.options.typescript` (default true, as for the nodejs language host). */
  typescript: boolean;
}

/** A stack's configuration: namespaced keys, values as the program sees them, and which are secret. */
export interface StackConfig {
  values: Record<string, unknown>;
  secretKeys: string[];
}

/** Reads `<dir>/Pulumi.yaml`. */
export function loadProject(dir: string): Project {
  const doc = yaml.load(readFileSync(path.join(dir, "Pulumi.yaml"), "utf8")) as Record<string, unknown>;
  const runtime = doc.runtime as string | { name: string; options?: { typescript?: boolean } };
  const rtName = typeof runtime === "string" ? runtime : runtime?.name;
  if (rtName !== "nodejs") throw new Error(`${dir}/Pulumi.yaml: runtime ${rtName} is not nodejs`);
  const opts = typeof runtime === "object" ? (runtime.options ?? {}) : {};
  return {
    dir: path.resolve(dir),
    name: String(doc.name),
    main: typeof doc.main === "string" ? doc.main : ".",
    typescript: opts.typescript !== false,
  };
}

/** Prefixes a config key with the project name unless it already has a namespace. */
export function namespaced(project: string, key: string): string {
  return key.includes(":") ? key : `${project}:${key}`;
}

/**
 * Reads `Pulumi.<stack>.yaml` when it exists and applies `overrides` on top (namespaced the same
 * way). Values given as `{ secret: v }` are secret, as `pulumi config set --secret` makes them.
 * Stack files holding `secure:` ciphertext are not supported: the harness has no CLI secrets provider.
 */
export function loadStackConfig(project: Project, stack: string, overrides: Record<string, unknown> = {}): StackConfig {
  const values: Record<string, unknown> = {};
  const secretKeys: string[] = [];
  const file = path.join(project.dir, `Pulumi.${stack}.yaml`);
  const fromFile = existsSync(file)
    ? ((yaml.load(readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | undefined)?.config ?? {})
    : {};
  for (const [k, v] of Object.entries({ ...fromFile, ...overrides })) {
    const key = namespaced(project.name, k);
    if (v && typeof v === "object" && "secure" in v)
      throw new Error(`${file}: ${k} is a 'secure' value; give it to the harness as an override { secret: ... }`);
    if (v && typeof v === "object" && "secret" in v && Object.keys(v).length === 1) {
      values[key] = (v as { secret: unknown }).secret;
      secretKeys.push(key);
    } else values[key] = v;
  }
  return { values, secretKeys };
}

/**
 * The environment the nodejs language host gives a program: config as JSON strings (objects and
 * lists JSON-encoded, as `config.requireObject` expects) and the list of secret keys.
 */
export function configEnv(cfg: StackConfig): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [k, v] of Object.entries(cfg.values)) flat[k] = typeof v === "string" ? v : JSON.stringify(v);
  return { PULUMI_CONFIG: JSON.stringify(flat), PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(cfg.secretKeys) };
}
