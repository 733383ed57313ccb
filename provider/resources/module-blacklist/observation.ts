import { MODPROBE_DIR } from "../../common/markers";
import { parseFacts, type HostFacts } from "../../transport/facts";
import { parseKeyValues, parseSections } from "../../transport/sections";
import { parseManagedFile, type ParsedManagedFile } from "./managed-file";
import { parseNotrackScan, type ManagedNotrackRule } from "./notrack-guard";
import type { LoadedModule } from "./unload-order";

/**
 * What one observation of a ModuleBlacklist's host holds, and the pure parser of the observe
 * script's output (`observe.ts` runs it).
 *
 * @packageDocumentation
 */

/** Absolute path of the managed file. */
export function managedPath(fileName: string): string {
  return `${MODPROBE_DIR}/${fileName}`;
}

/** A listed module as the host shows it. */
export interface ModuleFacts {
  name: string;
  /** `/sys/module/<name>/initstate` exists: loaded as a module (exact name, not a prefix). */
  loaded: boolean;
  /**
   * Built into the kernel: listed in `modules.builtin`, or `/sys/module/<name>` exists without an
   * `initstate` (a built-in with parameters; the only sign on a host without `/lib/modules`).
   */
  builtIn: boolean;
  /** Listed in `modules.dep` of the running kernel: loadable. */
  available: boolean;
}

/** The managed path as found. */
export type ObservedFile =
  | { kind: "absent" }
  /** `content` is the text; `base64` the exact bytes (what delete restores a replaced file from). */
  | { kind: "file"; content: string; base64: string; mode: string; mtime: number }
  /** A symlink, directory or device: never written through or replaced. */
  | { kind: "other"; what: string }
  | { kind: "unreadable" };

/** The running kernel's initramfs, when asked for. */
export interface InitramfsFacts {
  /** The tool that regenerates it here; null when neither exists. */
  tool: "update-initramfs" | "dracut" | null;
  /** The image of the running kernel (`/boot/initrd.img-<release>` or `/boot/initramfs-<release>.img`). */
  image: string | null;
  imageExists: boolean;
  /** Modification time of the image, seconds since the epoch. */
  imageMtime: number | null;
  /** The image could be listed (`lsinitramfs`/`lsinitrd`). */
  listed: boolean;
  /** Listed modules (canonical names) that are inside the image. */
  contains: string[];
  /** The image holds a copy of the managed file (written by an earlier regeneration). */
  hasFile: boolean;
}

/** Everything one observation learns, in one round trip. */
export interface Observation {
  facts: HostFacts;
  /** `/proc/modules` exists: the kernel loads modules at all (otherwise modprobe.d is moot). */
  modulesSupported: boolean;
  /** `modules.builtin` of the running kernel was readable. */
  builtinListAvailable: boolean;
  /** `modules.dep` of the running kernel was readable. */
  depListAvailable: boolean;
  /** The listed modules, by canonical name. */
  modules: Map<string, ModuleFacts>;
  /** Every loaded module with its holders and use count. */
  loaded: Map<string, LoadedModule>;
  file: ObservedFile;
  /** The effective `install`/`blacklist` configuration (`modprobe -c`); null when it could not be read. */
  config: Pick<ParsedManagedFile, "install" | "blacklist"> | null;
  /** Null when not probed (read does not; listing an initramfs costs seconds). */
  initramfs: InitramfsFacts | null;
  /** NotrackRules of this package on the host; null when not looked for. */
  notrackRules: ManagedNotrackRule[] | null;
}

/** Parses `ctk_observe` output (also the tail of apply's). Pure, so it is tested without a host. */
export function parseObservation(stdout: string): Observation {
  return observationFromSections(parseSections(stdout));
}

/** Builds an observation from already split sections. */
export function observationFromSections(sections: Map<string, string>): Observation {
  const kernel = parseKeyValues(sections.get("kernel") ?? "");
  const modules = new Map<string, ModuleFacts>();
  for (const row of lines(sections.get("modules"))) {
    const [name, sys, init, b, d] = row.split("\t");
    if (!name) continue;
    const loaded = init === "1";
    modules.set(name, { name, loaded, builtIn: b === "1" || (sys === "1" && !loaded), available: d === "1" });
  }
  const loaded = new Map<string, LoadedModule>();
  for (const row of lines(sections.get("loaded"))) {
    const [name, state, rc, hs] = row.split("\t");
    if (!name) continue;
    const refcnt = Number(rc);
    loaded.set(name, {
      name,
      state: state ?? "",
      refcnt: Number.isInteger(refcnt) && refcnt >= 0 ? refcnt : null,
      holders: (hs ?? "").split(" ").filter(Boolean).sort(),
    });
  }
  const configText = sections.get("config");
  let config: Observation["config"] = null;
  if (configText !== undefined && /^config_ok=1$/m.test(configText)) {
    const parsed = parseManagedFile(configText.replace(/^config_ok=1$/m, ""));
    config = { install: parsed.install, blacklist: parsed.blacklist };
  }
  const notrack = sections.get("notrack");
  return {
    facts: parseFacts(sections.get("facts") ?? ""),
    modulesSupported: kernel.get("modules_supported") === "1",
    builtinListAvailable: kernel.get("builtin_list") === "1",
    depListAvailable: kernel.get("dep_list") === "1",
    modules,
    loaded,
    file: parseFile(parseKeyValues(sections.get("file") ?? "")),
    config,
    initramfs: sections.has("initramfs") ? parseInitramfs(sections.get("initramfs")!) : null,
    notrackRules: notrack === undefined ? null : parseNotrackScan(notrack),
  };
}

function lines(text: string | undefined): string[] {
  return (text ?? "").split("\n").filter((l) => l !== "");
}

function parseFile(kv: Map<string, string>): ObservedFile {
  switch (kv.get("kind")) {
    case "absent":
      return { kind: "absent" };
    case "file": {
      const [mode, mtime] = (kv.get("stat") ?? "").split(" ");
      const bytes = Buffer.from(kv.get("hex") ?? "", "hex");
      return {
        kind: "file",
        content: bytes.toString("utf8"),
        base64: bytes.toString("base64"),
        mode: mode || "644",
        mtime: Number(mtime) || 0,
      };
    }
    case "other":
      return { kind: "other", what: kv.get("what") || "not a regular file" };
    default:
      return { kind: "unreadable" };
  }
}

function parseInitramfs(text: string): InitramfsFacts {
  const contains: string[] = [];
  let hasFile = false;
  for (const l of lines(text)) {
    if (l.startsWith("contains=")) contains.push(l.slice("contains=".length));
    if (l === "has_file=1") hasFile = true;
  }
  const kv = parseKeyValues(text);
  const tool = kv.get("tool");
  const mtime = Number(kv.get("image_mtime"));
  return {
    tool: tool === "update-initramfs" || tool === "dracut" ? tool : null,
    image: kv.get("image") || null,
    imageExists: kv.has("image_mtime"),
    imageMtime: kv.has("image_mtime") && Number.isFinite(mtime) ? mtime : null,
    listed: kv.get("listed") === "1",
    contains: contains.sort(),
    hasFile,
  };
}
