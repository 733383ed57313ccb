/**
 * The kernel modules of conntrack helpers on a host: whether each is built in, loaded, loadable or
 * missing, and the configuration that keeps it out. A helper rule makes the kernel look the helper
 * up by name (`-j CT --helper ftp`, nft `ct helper { type "ftp" ... }`); where the helper is a
 * module, the kernel's own answer to a missing one is "No such file or directory", which says
 * nothing about why. So the apply loads the module first, and a module the host's modprobe.d keeps
 * out is refused before anything changes.
 */
import { moduleAlternation, parseConfMatches } from "../../../transport/conf-dirs";
import { HELPER_INFO, HELPER_MODULES, type HelperName } from "../syntax/helpers";
import type { CoreBlock } from "../../../transport/conntrack-core";

/**
 * How a helper's module exists: `loaded`; `builtin` (nothing to load); `module` (loadable, not
 * loaded); `absent` (this kernel has no such module); `unknown` (the host has no module lists to
 * tell, e.g. a kernel without loadable modules whose built-in helpers have no parameters: the
 * kernel answers when the rule goes in).
 */
export type HelperModuleState = "loaded" | "builtin" | "module" | "absent" | "unknown";

/** One helper module on the host. */
export interface HelperModule {
  state: HelperModuleState;
  /** Configuration lines that keep it from loading (modprobe.d, kernel command line). */
  blocks: Pick<CoreBlock, "where" | "text">[];
}

/**
 * Extended regex (grep -E) for modprobe.d lines that keep a helper module out: `install <m> ...`
 * and `blacklist <m>` (`-` and `_` alike).
 */
export const HELPER_BLOCK_ERE = `^[[:space:]]*(install|blacklist)[[:space:]]+(${moduleAlternation(HELPER_MODULES)})([[:space:]]|$)`;

/**
 * Shell text printing `<module>=<state>` for every helper module. `/sys/module/<m>` exists for a
 * loaded module and for a built-in one with parameters; the module lists of the running kernel
 * tell the rest. Each list is read once for all modules (one `grep -o` of every helper's `/<m>.ko`),
 * not twice per module: on a stock kernel with no helper loaded that was some twenty processes in
 * every observation. Uses `$ctk_kr` (`KERNEL_RELEASE` in `transport/facts.ts`, which the facts run).
 */
export const HELPER_MODULES_SCRIPT = `hm_b=; hm_d=; hm_need=
for m in ${HELPER_MODULES.join(" ")}; do [ -d "/sys/module/$m" ] || hm_need=1; done
if [ -n "$hm_need" ]; then
  [ ! -r "/lib/modules/$ctk_kr/modules.builtin" ] || hm_b=$(grep -ohsE '/(${HELPER_MODULES.join("|")})\\.ko' "/lib/modules/$ctk_kr/modules.builtin")
  [ ! -r "/lib/modules/$ctk_kr/modules.dep" ] || hm_d=$(grep -ohsE '/(${HELPER_MODULES.join("|")})\\.ko' "/lib/modules/$ctk_kr/modules.dep")
fi
for m in ${HELPER_MODULES.join(" ")}; do
  if [ -e "/sys/module/$m/initstate" ]; then s=loaded
  elif [ -d "/sys/module/$m" ]; then s=builtin
  else
    case "$hm_b" in
    *"/$m.ko"*) s=builtin ;;
    *) case "$hm_d" in
      *"/$m.ko"*) s=module ;;
      *) if [ -r "/lib/modules/$ctk_kr/modules.dep" ]; then s=absent; else s=unknown; fi ;;
      esac ;;
    esac
  fi
  echo "$m=$s"
done`;

function isState(s: string | undefined): s is HelperModuleState {
  return s === "loaded" || s === "builtin" || s === "module" || s === "absent" || s === "unknown";
}

/**
 * Reads {@link HELPER_MODULES_SCRIPT} output, the `ctk_conf_grep` output for {@link HELPER_BLOCK_ERE}
 * and the kernel command line. An `install` line whose command itself runs modprobe or insmod
 * loads the module (a wrapper), so it is no block. A `blacklist` line is one here although it
 * only ignores aliases: the kernel asks for a helper by its alias (`nfct-helper-ftp`), so the
 * blacklist does keep it out of a rule, and loading it by name would undo what the line says. Pure.
 */
export function parseHelperModules(states: string, grepOutput: string, cmdline: string): Record<string, HelperModule> {
  const out: Record<string, HelperModule> = {};
  for (const m of HELPER_MODULES) out[m] = { state: "unknown", blocks: [] };
  for (const line of states.split("\n")) {
    const [m, s] = line.trim().split("=");
    if (out[m] && isState(s)) out[m].state = s;
  }
  for (const { path, line, text } of parseConfMatches(grepOutput)) {
    const words = text.trim().split(/\s+/);
    const module = (words[1] ?? "").replace(/-/g, "_");
    if (!out[module]) continue;
    if (words[0] === "install" && /\b(modprobe|insmod)\b/.test(words.slice(2).join(" "))) continue;
    if (words[0] !== "install" && words[0] !== "blacklist") continue;
    out[module].blocks.push({ where: `${path}:${line}`, text: text.trim() });
  }
  for (const word of cmdline.trim().split(/\s+/)) {
    const m = /^module_blacklist=(.*)$/.exec(word);
    for (const x of m?.[1].split(",") ?? []) {
      const module = x.replace(/-/g, "_");
      if (out[module]) out[module].blocks.push({ where: "kernel command line", text: word });
    }
  }
  return out;
}

/** What a rule of `helper` needs done with its module: nothing, load it, or why it cannot be had. */
export type HelperModuleDecision = { load: false } | { load: true; module: string } | { refused: string; hint: string };

/** The decision for `helper` on a host whose helper modules are `modules`. Pure. */
export function helperModuleDecision(helper: HelperName, modules: Record<string, HelperModule> | undefined): HelperModuleDecision {
  const module = HELPER_INFO[helper].module;
  const m = modules?.[module];
  if (!m || m.state === "loaded" || m.state === "builtin" || m.state === "unknown") return { load: false };
  if (m.state === "absent")
    return {
      refused: `this kernel has no ${module} (neither built in nor among its modules), so the ${helper} helper cannot be attached`,
      hint: `install the kernel's extra modules package (e.g. linux-modules-extra-$(uname -r) on Ubuntu) or a kernel built with the ${helper} helper`,
    };
  if (m.blocks.length > 0) {
    const b = m.blocks[0];
    return {
      refused: `${module} is kept out on this host by \`${b.text}\` in ${b.where}, so the ${helper} helper cannot be loaded`,
      hint:
        b.where === "kernel command line"
          ? `remove ${module} from module_blacklist= on the kernel command line and reboot, or drop this rule`
          : `remove that line (when the file is a ModuleBlacklist resource's, take ${module} out of its modules), or drop this rule: this package does not load a module the host's configuration keeps out`,
    };
  }
  return { load: true, module };
}
