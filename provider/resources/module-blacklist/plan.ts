import type { Refusal } from "../../common/refusal";
import { MAX_REPLACED_BYTES, blocksModule, parseManagedFile, renderManagedFile, type ReplacedFile } from "./managed-file";
import { helperModulesIn, helperModulesInUse, type HelperModuleInUse } from "./helper-guard";
import { notrackDependenciesIn } from "./notrack-guard";
import { managedPath, type Observation } from "./observation";
import { MODULE_NAME, type ModuleBlacklistInputs } from "./schema";
import { planUnload, type LoadedModule, type UnloadPlan } from "./unload-order";

/** The inputs a plan depends on. */
export type Desired = Pick<ModuleBlacklistInputs, "modules" | "mode" | "unload" | "initramfs" | "fileName">;

/** What this resource keeps in state beyond its inputs, so that delete can undo create. */
export interface Recorded {
  /** The file that was at the managed path before create; null when there was none. */
  replaced: ReplacedFile | null;
  /** This resource has regenerated the initramfs (at create or an update): delete does it again. */
  initramfsRegenerated: boolean;
}

/** Why the program cannot be carried out on this host (one definition for every kind). */
export type { Refusal } from "../../common/refusal";

/** A regeneration of the running kernel's initramfs. */
export interface Regeneration {
  tool: "update-initramfs" | "dracut";
  why: string;
}

/** What {@link plan} decides for create and update. */
export interface Plan {
  /** Set when nothing may be done; every other field is then what would have been done. */
  refusal?: Refusal;
  path: string;
  /** The content to write; null when the file is already right. */
  write: string | null;
  regenerate: Regeneration | null;
  /** Null when `unload` is false. When `blocked` is not empty, nothing is unloaded. */
  unload: UnloadPlan | null;
  /** Look again, under the host lock, for NotrackRules that need a listed module. */
  guardNotrack: boolean;
  /**
   * Listed modules that hold a conntrack helper: look again, under the host lock, for managed rules
   * that attach one of their helpers (ConntrackHelperRule). Empty when none is listed.
   */
  guardHelpers: string[];
  /** What to keep in state. */
  record: Recorded;
  /** What the operator should know. */
  notes: string[];
}

/**
 * Decides create and update: the file to write, whether to regenerate the initramfs, what to
 * unload in which order, and what refuses the whole change. Pure: every decision is tested without
 * a host. `recorded` is the state of an existing resource (update); absent on create.
 *
 * Order of the changes (apply): the file first, then the initramfs, then the unload. A module
 * unloaded while no file keeps it out can be loaded again at once by a kernel request, and a
 * refused or failed unload still leaves the host protected from the next boot on.
 */
export function plan(obs: Observation, desired: Desired, recorded?: Recorded): Plan {
  const path = managedPath(desired.fileName);
  const notes = hostNotes(obs, desired);
  const file = obs.file;
  const parsed = file.kind === "file" ? parseManagedFile(file.content) : null;

  let replaced: ReplacedFile | null;
  if (recorded) replaced = recorded.replaced;
  else if (file.kind === "file" && parsed && !parsed.managed) replaced = { base64: file.base64, mode: file.mode };
  else replaced = parsed?.replaced ?? null;

  const content = renderManagedFile(desired.modules, desired.mode, replaced);
  const write = file.kind === "file" && file.content === content ? null : content;
  const guardNotrack = notrackDependenciesIn(desired.modules).length > 0;
  const unload = desired.unload
    ? planUnload(
        obs.loaded,
        desired.modules.filter((m) => obs.modules.get(m)?.loaded),
      )
    : null;
  const base: Plan = {
    path,
    write,
    regenerate: null,
    unload,
    guardNotrack,
    guardHelpers: helperModulesIn(desired.modules),
    record: { replaced, initramfsRegenerated: recorded?.initramfsRegenerated ?? false },
    notes,
  };

  const refusal = refuse(obs, desired, path, parsed, recorded);
  if (refusal) return { ...base, refusal };

  // A blocked unload refuses the whole change: writing the file and then failing would leave a
  // file that no state refers to (issue 12, item 4).
  if (unload && unload.blocked.length > 0) {
    const d = describeBlockedUnload(unload, obs.loaded);
    return {
      ...base,
      refusal: {
        error: "conflict",
        message: `${d.message}\n  Nothing was changed: ${path} was not written and no module was unloaded.`,
        hint: d.hint,
        command: `modprobe -r ${unload.blocked.map((b) => b.module).join(" ")}`,
      },
    };
  }
  if (unload && unload.holdersRemoved.length > 0) {
    const held = desired.modules.filter((m) => unload.order.includes(m));
    notes.push(
      `unload also removes ${unload.holdersRemoved.join(", ")} first: ${unload.holdersRemoved.length === 1 ? "it holds" : "they hold"} ${held.join(", ")} and nothing uses ${unload.holdersRemoved.length === 1 ? "it" : "them"} (refcnt 0); the kernel loads ${unload.holdersRemoved.length === 1 ? "it" : "them"} again when a rule needs ${unload.holdersRemoved.length === 1 ? "it" : "them"}.`,
    );
  }

  const regen = initramfsDecision(obs, desired, path, write !== null);
  if ("refusal" in regen) return { ...base, refusal: regen.refusal };
  if (regen.note) notes.push(regen.note);
  return {
    ...base,
    regenerate: regen.regenerate,
    record: { ...base.record, initramfsRegenerated: base.record.initramfsRegenerated || regen.regenerate !== null },
  };
}

function refuse(
  obs: Observation,
  desired: Desired,
  path: string,
  parsed: ReturnType<typeof parseManagedFile> | null,
  recorded?: Recorded,
): Refusal | undefined {
  const file = obs.file;
  if (file.kind === "other") {
    return {
      error: "conflict",
      message: `${path} is a ${file.what}, not a regular file: it is never written through or replaced`,
      hint: `remove it, or choose another fileName`,
      command: `write ${path}`,
    };
  }
  if (file.kind === "unreadable") {
    return {
      error: "unsupported",
      message: `${path} cannot be read`,
      hint: "run as root, or set sudo: true for a user with passwordless sudo",
      command: `read ${path}`,
    };
  }
  if (!recorded && file.kind === "file" && parsed && !parsed.managed && Buffer.byteLength(file.base64, "base64") > MAX_REPLACED_BYTES) {
    return {
      error: "conflict",
      message: `${path} already exists with ${Buffer.byteLength(file.base64, "base64")} bytes of other content, more than the ${MAX_REPLACED_BYTES} this resource keeps to restore on delete`,
      hint: "choose another fileName, or move that file away",
      command: `write ${path}`,
    };
  }
  const needed = notrackDependenciesIn(desired.modules);
  if (needed.length > 0 && obs.notrackRules && obs.notrackRules.length > 0) {
    const shown = obs.notrackRules.slice(0, 5).map((r) => `${r.source}: ${r.rule}`);
    if (obs.notrackRules.length > 5) shown.push(`... and ${obs.notrackRules.length - 5} more`);
    return {
      error: "conflict",
      message: `NotrackRule resources of pulumi-conntrack manage NOTRACK rules on this host, and they need ${needed.join(", ")}, which this ModuleBlacklist would keep out:\n    ${shown.join("\n    ")}`,
      hint: `remove ${needed.join(", ")} from modules, or delete the NotrackRule resources on this host first`,
      command: `keep out ${desired.modules.join(" ")}`,
    };
  }
  const inUse = helperModulesInUse(obs.notrackRules ?? [], desired.modules);
  if (inUse.length > 0) return helperInUseRefusal(inUse, desired.modules);
  const builtIn = desired.modules.filter((m) => obs.modules.get(m)?.builtIn);
  if (desired.unload && builtIn.length > 0) {
    return {
      error: "unsupported",
      message: `cannot unload ${builtIn.join(", ")}: built into kernel ${obs.facts.kernelRelease}, ${builtIn.length === 1 ? "it is" : "they are"} not modules`,
      hint: `set unload: false (the file is still written for kernels where ${builtIn.length === 1 ? "it is a module" : "they are modules"}), or remove ${builtIn.join(", ")} from modules; ${builtinAdvice(builtIn)}`,
      command: `modprobe -r ${builtIn.join(" ")}`,
    };
  }
  return undefined;
}

/**
 * The refusal to keep out helper modules that ConntrackHelperRules on the host use: the saved
 * ruleset could not load them at the next boot, and the raw table's restore would fail whole.
 */
export function helperInUseRefusal(inUse: readonly HelperModuleInUse[], modules: readonly string[]): Refusal {
  const names = inUse.map((u) => u.module).join(", ");
  const rules = [...new Set(inUse.flatMap((u) => u.rules))];
  const shown = rules.slice(0, 5).map((r) => `${r.source}: ${r.rule}`);
  if (rules.length > 5) shown.push(`... and ${rules.length - 5} more`);
  return {
    error: "conflict",
    message: `ConntrackHelperRule resources of pulumi-conntrack attach conntrack helpers on this host, and they need ${names}, which this ModuleBlacklist would keep out (at the next boot the saved rules could not load ${inUse.length === 1 ? "it" : "them"} and the raw table would not be restored):\n    ${shown.join("\n    ")}`,
    hint: `remove ${names} from modules, or delete the ConntrackHelperRule resources that use ${inUse.length === 1 ? "it" : "them"} on this host first`,
    command: `keep out ${modules.join(" ")}`,
  };
}

/**
 * First words of every note about the initramfs. Read does not list the initramfs (it costs
 * seconds), so it carries these notes over from the stored outputs instead of dropping them.
 */
export const INITRAMFS_NOTE_PREFIX = "initramfs: ";

function initramfsDecision(
  obs: Observation,
  desired: Desired,
  path: string,
  fileChanges: boolean,
): { regenerate: Regeneration | null; note?: string } | { refusal: Refusal } {
  const ir = obs.initramfs;
  if (desired.initramfs === "never") {
    const inside = ir?.contains ?? [];
    if (inside.length === 0) return { regenerate: null };
    return {
      regenerate: null,
      note: `${INITRAMFS_NOTE_PREFIX}${inside.join(", ")} ${inside.length === 1 ? "is" : "are"} inside ${ir!.image}, which loads before /etc/modprobe.d is read, and initramfs is "never": early boot may still load ${inside.length === 1 ? "it" : "them"}`,
    };
  }
  if (!ir) return { regenerate: null };
  const fileNewer = obs.file.kind === "file" && ir.imageMtime !== null && obs.file.mtime > ir.imageMtime;
  const stale = fileChanges || fileNewer;
  const reasons: string[] = [];
  if (desired.initramfs === "always") reasons.push('initramfs is "always"');
  else {
    if (ir.contains.length > 0) reasons.push(`${ir.contains.join(", ")} ${ir.contains.length === 1 ? "is" : "are"} inside ${ir.image}`);
    if (ir.hasFile) reasons.push(`${ir.image} holds a copy of ${path}`);
  }
  if (desired.initramfs === "always") {
    const command = ir.tool === "dracut" ? "dracut -f" : "update-initramfs -u";
    if (!ir.tool)
      return {
        refusal: {
          error: "unsupported",
          message: 'initramfs is "always", but neither update-initramfs nor dracut is installed',
          hint: 'install initramfs-tools or dracut, or set initramfs to "auto" or "never"',
          command,
        },
      };
    if (!ir.imageExists)
      return {
        refusal: {
          error: "unsupported",
          message: `initramfs is "always", but there is no initramfs image of kernel ${obs.facts.kernelRelease} at ${ir.image}`,
          hint: 'set initramfs to "auto" or "never" on a host that boots without an initramfs',
          command,
        },
      };
  }
  if (!stale || reasons.length === 0) return { regenerate: null };
  if (!ir.tool)
    return {
      regenerate: null,
      note: `${INITRAMFS_NOTE_PREFIX}${reasons.join("; ")}, but neither update-initramfs nor dracut is installed to regenerate it`,
    };
  return { regenerate: { tool: ir.tool, why: reasons.join("; ") } };
}

/** What the operator should know about the host, whatever the change. */
function hostNotes(obs: Observation, desired: Desired): string[] {
  const notes: string[] = [];
  const builtIn = desired.modules.filter((m) => obs.modules.get(m)?.builtIn);
  if (builtIn.length > 0) {
    notes.push(
      `NOT EFFECTIVE for ${builtIn.join(", ")}: built into kernel ${obs.facts.kernelRelease}; /etc/modprobe.d never applies to built-in code. ${builtinAdvice(builtIn)}. The file still applies to kernels where ${builtIn.length === 1 ? "it is a module" : "they are modules"}.`,
    );
  }
  if (!obs.modulesSupported) {
    notes.push(
      `NOT EFFECTIVE: kernel ${obs.facts.kernelRelease} loads no modules at all (/proc/modules is absent): every feature is built in or missing, and /etc/modprobe.d is never read.`,
    );
  }
  if (obs.modulesSupported && obs.depListAvailable) {
    const unknown = desired.modules.filter((m) => {
      const f = obs.modules.get(m);
      return f && !f.available && !f.builtIn && !f.loaded;
    });
    if (unknown.length > 0)
      notes.push(
        `${unknown.join(", ")}: no such module in kernel ${obs.facts.kernelRelease} (modules.dep); check the spelling. The file keeps ${unknown.length === 1 ? "it" : "them"} out should a later kernel have ${unknown.length === 1 ? "it" : "them"}.`,
      );
  }
  if (desired.mode === "blacklist") {
    notes.push(
      WEAK_MODE_NOTE_PREFIX +
        ': it only ignores the modules\' aliases; `modprobe <m>`, a module that depends on them and kernel requests (iptables -t nat -L loads iptable_nat, nf_nat, nf_conntrack) still load them. Use mode "disable" to keep them out.',
    );
  }
  if (!desired.unload) {
    const loaded = desired.modules.filter((m) => obs.modules.get(m)?.loaded);
    if (loaded.length > 0)
      notes.push(
        `${loaded.join(", ")} ${loaded.length === 1 ? "is" : "are"} loaded and stay${loaded.length === 1 ? "s" : ""} loaded (unload is false): the file keeps ${loaded.length === 1 ? "it" : "them"} out from the next load or boot on. Set unload: true, or run modprobe -r.`,
      );
  }
  if (desired.unload)
    notes.push("Deleting this resource removes the file only: modules it unloaded stay unloaded until something loads them.");
  return notes;
}

/** What keeps a built-in module out, which is not modprobe.d. */
export function builtinAdvice(modules: readonly string[]): string {
  return (
    `The only place left is the kernel command line: module_blacklist=${modules.join(",")} (kernels before the built-in support for it ignore it for built-in code, ` +
    "where only initcall_blacklist=<the module's init function> or a kernel that has it as a module helps)"
  );
}

/** A listed module as outputs report it. */
export interface ModuleStatus {
  name: string;
  /** Loaded as a module now (`/sys/module/<name>/initstate`; exact name). */
  loaded: boolean;
  /** Built into the running kernel: no modprobe.d line can keep it out. */
  builtIn: boolean;
  /** The managed file holds the lines `mode` asks for. */
  blocked: boolean;
  /**
   * The kernel honours the block: blocked, the kernel loads modules, the module is not built in,
   * and modprobe's effective configuration agrees (no other file's `install` line comes first).
   */
  effective: boolean;
}

/**
 * Per-module status from an observation. `effective` is true only where the module really stays
 * out: never in `blacklist` mode (modprobe by name, dependencies and kernel requests still load
 * it), and never for a module inside an initramfs that `initramfs: "never"` leaves without the file
 * (early boot loads it before /etc/modprobe.d is read).
 */
export function moduleStatuses(
  obs: Observation,
  desired: Pick<Desired, "modules" | "mode"> & Partial<Pick<Desired, "initramfs">>,
): ModuleStatus[] {
  const parsed = obs.file.kind === "file" ? parseManagedFile(obs.file.content) : null;
  const early = earlyBootModules(obs, desired);
  return desired.modules.map((name) => {
    const f = obs.modules.get(name);
    const loaded = f?.loaded ?? false;
    const builtIn = f?.builtIn ?? false;
    const blocked = parsed ? blocksModule(parsed, name, desired.mode) : false;
    const honoured = obs.config ? blocksModule(obs.config, name, desired.mode) : true;
    const strong = desired.mode === "disable" && !early.includes(name);
    return { name, loaded, builtIn, blocked, effective: blocked && honoured && strong && obs.modulesSupported && !builtIn };
  });
}

/** Listed modules inside the initramfs that `initramfs: "never"` leaves without the managed file. */
export function earlyBootModules(obs: Observation, desired: Partial<Pick<Desired, "initramfs">>): string[] {
  if (desired.initramfs !== "never" || !obs.initramfs) return [];
  return obs.initramfs.contains;
}

/** First words of the note that says `blacklist` mode is weak. */
export const WEAK_MODE_NOTE_PREFIX = 'mode "blacklist" is weak';

/**
 * The notes that say the modules are NOT kept out (built in, overridden, weak mode, early boot,
 * no tool to regenerate): these are the resource's `warnings`, logged to the engine.
 */
export function warningsOf(notes: readonly string[]): string[] {
  return notes.filter(
    (n) =>
      n.startsWith("NOT EFFECTIVE") ||
      n.startsWith(WEAK_MODE_NOTE_PREFIX) ||
      (n.startsWith(INITRAMFS_NOTE_PREFIX) && /early boot may still load|neither update-initramfs nor dracut is installed/.test(n)),
  );
}

/** Notes about modules whose block another modprobe.d file overrides. */
export function overrideNotes(obs: Observation, desired: Pick<Desired, "modules" | "mode" | "fileName">): string[] {
  if (!obs.config || desired.mode !== "disable") return [];
  const out: string[] = [];
  for (const s of moduleStatuses(obs, desired)) {
    const cmd = obs.config.install.get(s.name);
    if (s.blocked && !s.builtIn && cmd !== undefined && cmd !== "/bin/false") {
      out.push(
        `NOT EFFECTIVE for ${s.name}: modprobe runs the first install line it reads, and another modprobe.d file that sorts before ${desired.fileName} says \`install ${s.name} ${cmd}\`; remove that line, or choose a fileName that sorts first (e.g. 00-${desired.fileName}).`,
      );
    }
  }
  return out;
}

/** Modules the live file blocks as `mode` asks: what the host's state amounts to, as inputs. */
export function liveModules(obs: Observation, mode: Desired["mode"]): string[] {
  if (obs.file.kind !== "file") return [];
  const parsed = parseManagedFile(obs.file.content);
  const names = new Set([...parsed.install.keys(), ...parsed.blacklist]);
  return [...names].filter((m) => MODULE_NAME.test(m) && blocksModule(parsed, m, mode)).sort();
}

/** What read found different from the stored state. */
export interface Drift {
  /** Human-readable findings. */
  findings: string[];
  /** Some of them the next update repairs (rewrite the file, unload again). */
  repairable: boolean;
}

/** Compares the host with what create/update left (the stored inputs and record). */
export function detectDrift(obs: Observation, stored: Desired, recorded: Recorded): Drift {
  const path = managedPath(stored.fileName);
  const findings: string[] = [];
  let repairable = false;
  const file = obs.file;
  if (file.kind === "absent") {
    findings.push(`${path} was removed`);
    repairable = true;
  } else if (file.kind === "other") {
    findings.push(`${path} is now a ${file.what}; it is not replaced (remove it, then run pulumi up)`);
  } else if (file.kind === "unreadable") {
    findings.push(`${path} cannot be read`);
  } else if (file.content !== renderManagedFile(stored.modules, stored.mode, recorded.replaced)) {
    const live = new Set(liveModules(obs, stored.mode));
    const lost = stored.modules.filter((m) => !live.has(m));
    const added = [...live].filter((m) => !stored.modules.includes(m));
    const parts = [`${path} was edited by hand`];
    if (lost.length) parts.push(`no longer keeps out ${lost.join(", ")}`);
    if (added.length) parts.push(`also keeps out ${added.join(", ")}`);
    findings.push(parts.join("; "));
    repairable = true;
  }
  for (const s of moduleStatuses(obs, stored)) {
    if (!s.loaded || s.builtIn) continue;
    if (stored.unload) {
      findings.push(`${s.name} is loaded again (insmod, or loaded before the file): the next update unloads it`);
      repairable = true;
    } else {
      findings.push(`${s.name} is loaded (unload is false, so it is left as it is)`);
    }
  }
  return { findings, repairable };
}

/** Why an unload cannot happen, in words an operator acts on. */
export function describeBlockedUnload(u: UnloadPlan, loaded: ReadonlyMap<string, LoadedModule>): { message: string; hint: string } {
  const lines = u.blocked.map((b) => {
    const parts: string[] = [];
    if (b.holders.length) parts.push(`held by ${b.holders.join(", ")}`);
    if (b.otherUsers > 0)
      parts.push(
        `${b.otherUsers} user${b.otherUsers === 1 ? "" : "s"} that ${b.otherUsers === 1 ? "is not a module" : "are not modules"} (rules, nft objects, sockets or a process)`,
      );
    return `${b.module}: ${parts.join("; ") || "in use"} (refcnt ${b.refcnt ?? "unknown"})`;
  });
  const outside = u.removeFirst.map((m) => {
    const l = loaded.get(m);
    const other = l && l.refcnt !== null ? l.refcnt - l.holders.length : 0;
    return other > 0 ? `${m} (used by ${other} rule(s), nft object(s), socket(s) or process(es))` : m;
  });
  const hint = [
    outside.length ? `remove first, in this order, or add to modules: ${outside.join(", ")}` : "",
    u.blocked.some((b) => b.otherUsers > 0)
      ? "remove what uses the modules (iptables/nft rules, conntrack helpers, sockets), then run pulumi up again"
      : "",
  ]
    .filter(Boolean)
    .join("; ");
  return {
    message: `cannot unload ${u.blocked.map((b) => b.module).join(", ")}: in use\n    ${lines.join("\n    ")}`,
    hint: hint || "find what uses them (lsmod), remove it, then run pulumi up again",
  };
}

/** What delete does. */
export interface DeletePlan {
  /** `restore`: put back the file create replaced; `remove`: there was none; `keep`: not ours (or gone). */
  file: { kind: "keep"; why: string } | { kind: "remove" } | { kind: "restore"; replaced: ReplacedFile };
  regenerate: Regeneration | null;
}

/**
 * Decides delete: remove the managed file, or restore the file it replaced, byte for byte; never
 * touch a file that no longer carries the managed header. Regenerate the initramfs when this
 * resource did (or the image holds a copy of the file), unless `initramfs` is `never`. Loaded and
 * unloaded modules are left as they are.
 */
export function planDelete(obs: Observation, stored: Pick<Desired, "fileName" | "initramfs">, recorded: Recorded): DeletePlan {
  const file = obs.file;
  let action: DeletePlan["file"];
  if (file.kind === "absent") action = { kind: "keep", why: "already gone" };
  else if (file.kind !== "file") action = { kind: "keep", why: `not a regular file (${file.kind === "other" ? file.what : "unreadable"})` };
  else {
    const parsed = parseManagedFile(file.content);
    const replaced = recorded.replaced ?? parsed.replaced;
    if (!parsed.managed) action = { kind: "keep", why: "no longer carries the managed header" };
    else action = replaced ? { kind: "restore", replaced } : { kind: "remove" };
  }
  let regenerate: Regeneration | null = null;
  const ir = obs.initramfs;
  const changes = action.kind !== "keep";
  // The file already gone while the image still holds it: a delete that failed after removing it.
  const stale = !!ir?.hasFile && (changes || file.kind === "absent");
  if (stored.initramfs !== "never" && ir?.tool && ir.imageExists && ((changes && recorded.initramfsRegenerated) || stale)) {
    regenerate = {
      tool: ir.tool,
      why: stale ? `${ir.image} holds a copy of ${managedPath(stored.fileName)}` : "this resource regenerated it",
    };
  }
  return { file: action, regenerate };
}
