import type { Connection } from "../../connection/schema";
import { commandFailed, exec, script } from "../../transport/exec";
import type { SnapshotUse } from "../../transport/snapshot";
import { EXIT } from "../../transport/exit-codes";
import { FACTS_SCRIPT, KERNEL_RELEASE } from "../../transport/facts";
import { HEX_FUNCTION } from "../../transport/observed-file";
import { sectionStart } from "../../transport/sections";
import { NOTRACK_SCAN_FUNCTION } from "./notrack-guard";
import { parseObservation, type Observation } from "./observation";

/**
 * Shell text defining `ctk_observe FILE PROBE_INITRAMFS CHECK_NOTRACK MODULE...`, which prints an
 * observation in sections. It is also the tail of the apply script, so that what apply reports is
 * read back from the host, not assumed. Module names reach it only as positional parameters, and
 * only after the schema allowed them (`[A-Za-z0-9_-]`).
 */
export const OBSERVE_FUNCTION = `${KERNEL_RELEASE}
${NOTRACK_SCAN_FUNCTION}
${HEX_FUNCTION}
ctk_observe() {
  f=$1; probe=$2; guard=$3; shift 3
${sectionStart("facts")}
${FACTS_SCRIPT}
${sectionStart("kernel")}
  if [ -e /proc/modules ]; then echo modules_supported=1; else echo modules_supported=0; fi
  bl=; dl=
  if [ -r "/lib/modules/$ctk_kr/modules.builtin" ]; then
    echo builtin_list=1
    bl=$(sed -e 's#.*/##' -e 's/\\.ko.*$//' -e 's/-/_/g' "/lib/modules/$ctk_kr/modules.builtin")
  fi
  if [ -r "/lib/modules/$ctk_kr/modules.dep" ]; then
    echo dep_list=1
    dl=$(sed -e 's/:.*$//' -e 's#.*/##' -e 's/\\.ko.*$//' -e 's/-/_/g' "/lib/modules/$ctk_kr/modules.dep")
  fi
${sectionStart("modules")}
  for m in "$@"; do
    sys=0; [ -d "/sys/module/$m" ] && sys=1
    init=0; [ -e "/sys/module/$m/initstate" ] && init=1
    # A whole line of the list (grep -qxF), matched by the shell: no process per module.
    b=0; case "$ctk_nl$bl$ctk_nl" in *"$ctk_nl$m$ctk_nl"*) [ -n "$bl" ] && b=1 ;; esac
    d=0; case "$ctk_nl$dl$ctk_nl" in *"$ctk_nl$m$ctk_nl"*) [ -n "$dl" ] && d=1 ;; esac
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
      ctk_hex hex $x
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
    if command -v update-initramfs >/dev/null 2>&1; then echo tool=update-initramfs; img=/boot/initrd.img-$ctk_kr; lister=lsinitramfs
    elif command -v dracut >/dev/null 2>&1; then echo tool=dracut; img=/boot/initramfs-$ctk_kr.img; lister=lsinitrd
    else img=/boot/initrd.img-$ctk_kr; [ -e "$img" ] || img=/boot/initramfs-$ctk_kr.img; fi
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
  /** How this observation uses the engine operation's snapshot of the host (transport/snapshot.ts); default `"fresh"`. */
  shared?: SnapshotUse;
  /** For a `"plan"`: the host's count of completed changes when the engine asked (`ExecOptions.since`). */
  since?: number;
}

/** The positional parameters of {@link OBSERVE_SCRIPT} / `ctk_observe`. */
export function observeArgs(path: string, modules: readonly string[], opts: ObserveOptions): string[] {
  return [path, opts.initramfs ? "1" : "0", opts.notrack ? "1" : "0", ...modules];
}

/** Observes the host in one round trip. */
export async function observe(conn: Connection, path: string, modules: readonly string[], opts: ObserveOptions): Promise<Observation> {
  const argv = script(OBSERVE_SCRIPT, observeArgs(path, modules, opts));
  const label = `observe modules ${modules.join(" ")} and ${path}`;
  const r = await exec(conn, argv, { label, timeoutMs: 300_000, observation: opts.shared ?? "fresh", since: opts.since });
  if (r.exitCode !== EXIT.OK)
    throw commandFailed(conn, argv, r, { label, hint: "check that the user is root or has passwordless sudo (sudo: true)" });
  return parseObservation(r.stdout);
}
