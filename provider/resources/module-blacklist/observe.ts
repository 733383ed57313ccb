import { MODPROBE_DIR } from "../../common/markers";
import type { Connection } from "../../connection/schema";
import { commandFailed, exec, script } from "../../transport/exec";
import { EXIT } from "../../transport/exit-codes";
import { FACTS_SCRIPT, parseFacts, type HostFacts } from "../../transport/facts";
import { parseKeyValues, parseSections, sectionStart } from "../../transport/sections";
import { parseManagedFile, type ParsedManagedFile } from "./managed-file";
import { NOTRACK_SCAN_FUNCTION, parseNotrackScan, type ManagedNotrackRule } from "./notrack-guard";
import type { LoadedModule } from "./unload-order";

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

/**
 * Shell text defining `ctk_observe FILE PROBE_INITRAMFS CHECK_NOTRACK MODULE...`, which prints an
 * observation in sections. It is also the tail of the apply script, so that what apply reports is
 * read back from the host, not assumed. Module names reach it only as positional parameters, and
 * only after the schema allowed them (`[A-Za-z0-9_-]`).
 */
export const OBSERVE_FUNCTION = `${NOTRACK_SCAN_FUNCTION}
ctk_observe() {
  f=$1; probe=$2; guard=$3; shift 3
${sectionStart("facts")}
${FACTS_SCRIPT}
  kr=$(uname -r)
${sectionStart("kernel")}
  if [ -e /proc/modules ]; then echo modules_supported=1; else echo modules_supported=0; fi
  bl=; dl=
  if [ -r "/lib/modules/$kr/modules.builtin" ]; then
    echo builtin_list=1
    bl=$(sed -e 's#.*/##' -e 's/\\.ko.*$//' -e 's/-/_/g' "/lib/modules/$kr/modules.builtin")
  fi
  if [ -r "/lib/modules/$kr/modules.dep" ]; then
    echo dep_list=1
    dl=$(sed -e 's/:.*$//' -e 's#.*/##' -e 's/\\.ko.*$//' -e 's/-/_/g' "/lib/modules/$kr/modules.dep")
  fi
${sectionStart("modules")}
  for m in "$@"; do
    sys=0; [ -d "/sys/module/$m" ] && sys=1
    init=0; [ -e "/sys/module/$m/initstate" ] && init=1
    b=0; [ -n "$bl" ] && printf '%s\\n' "$bl" | grep -qxF -- "$m" && b=1
    d=0; [ -n "$dl" ] && printf '%s\\n' "$dl" | grep -qxF -- "$m" && d=1
    printf '%s\\t%s\\t%s\\t%s\\t%s\\n' "$m" "$sys" "$init" "$b" "$d"
  done
${sectionStart("loaded")}
  for d in /sys/module/*; do
    [ -r "$d/initstate" ] || continue
    st=; read -r st < "$d/initstate" || true
    rc=-1; [ -r "$d/refcnt" ] && { read -r rc < "$d/refcnt" || rc=-1; }
    hs=
    for h in "$d"/holders/*; do [ -e "$h" ] || [ -L "$h" ] && hs="$hs \${h##*/}"; done
    printf '%s\\t%s\\t%s\\t%s\\n' "\${d##*/}" "$st" "$rc" "$hs"
  done
${sectionStart("file")}
  if [ -L "$f" ]; then echo kind=other; echo what=symlink
  elif [ -f "$f" ]; then
    if x=$(od -An -v -tx1 < "$f"); then
      echo kind=file; echo "stat=$(stat -c '%a %Y' -- "$f")"
      printf 'hex=%s\\n' "$(printf '%s' "$x" | tr -d ' \\n')"
    else echo kind=unreadable; fi
  elif [ -e "$f" ]; then echo kind=other; echo "what=$(stat -c %F -- "$f" 2>/dev/null)"
  else echo kind=absent; fi
  if command -v modprobe >/dev/null 2>&1; then
${sectionStart("config")}
    { modprobe -c 2>/dev/null && echo config_ok=1; } | grep -E '^(install|blacklist)[[:space:]]|^config_ok=1$'
  fi
  if [ "$probe" = 1 ]; then
${sectionStart("initramfs")}
    lister=
    if command -v update-initramfs >/dev/null 2>&1; then echo tool=update-initramfs; img=/boot/initrd.img-$kr; lister=lsinitramfs
    elif command -v dracut >/dev/null 2>&1; then echo tool=dracut; img=/boot/initramfs-$kr.img; lister=lsinitrd
    else img=/boot/initrd.img-$kr; [ -e "$img" ] || img=/boot/initramfs-$kr.img; fi
    echo "image=$img"
    if [ -f "$img" ]; then
      echo "image_mtime=$(stat -c %Y -- "$img")"
      if [ -n "$lister" ] && command -v $lister >/dev/null 2>&1 && list=$($lister "$img" 2>/dev/null); then
        echo listed=1
        list=$(printf '%s\\n' "$list" | sed -e 's#^.* ##' -e 's#^\\./##')
        mods=$(printf '%s\\n' "$list" | sed -n 's#^.*/\\([^/]*\\)\\.ko\\(\\.[a-z0-9]*\\)\\{0,1\\}$#\\1#p' | tr - _ | sort -u)
        for m in "$@"; do printf '%s\\n' "$mods" | grep -qxF -- "$m" && echo "contains=$m"; done
        printf '%s\\n' "$list" | grep -qxF -- "etc/modprobe.d/\${f##*/}" && echo has_file=1
      fi
    fi
  fi
  if [ "$guard" = 1 ]; then
${sectionStart("notrack")}
    ctk_notrack_scan
  fi
  return 0
}`;

/** The observe script: `$1` file, `$2` probe the initramfs (0/1), `$3` look for NotrackRules (0/1), then the modules. */
export const OBSERVE_SCRIPT = `${OBSERVE_FUNCTION}\nctk_observe "$@"`;

/** What to look at beyond the always-read state. */
export interface ObserveOptions {
  /** List the initramfs (seconds on a large image). */
  initramfs: boolean;
  /** Look for NotrackRules of this package. */
  notrack: boolean;
}

/** The positional parameters of {@link OBSERVE_SCRIPT} / `ctk_observe`. */
export function observeArgs(path: string, modules: readonly string[], opts: ObserveOptions): string[] {
  return [path, opts.initramfs ? "1" : "0", opts.notrack ? "1" : "0", ...modules];
}

/** Observes the host in one round trip. */
export async function observe(conn: Connection, path: string, modules: readonly string[], opts: ObserveOptions): Promise<Observation> {
  const argv = script(OBSERVE_SCRIPT, observeArgs(path, modules, opts));
  const label = `observe modules ${modules.join(" ")} and ${path}`;
  const r = await exec(conn, argv, { label, timeoutMs: 300_000 });
  if (r.exitCode !== EXIT.OK)
    throw commandFailed(conn, argv, r, { label, hint: "check that the user is root or has passwordless sudo (sudo: true)" });
  return parseObservation(r.stdout);
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
