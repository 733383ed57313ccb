import { z } from "zod";
import { MODPROBE_FILE_NAME } from "../../common/markers";
import { UNKNOWN } from "../../common/unknown";
import { ConnectionSchema } from "../../connection/schema";

/**
 * A kernel module name as modprobe takes it: letters, digits, `_` and `-`, at most 55 characters
 * (the kernel's `MODULE_NAME_LEN` is 56 with the terminating NUL). It may not start with `-`, which
 * modprobe would read as an option. Nothing else can be a module name, so a path (`../x`), a space or
 * a shell metacharacter never reaches a host.
 */
export const MODULE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,54}$/;

/** The resource type name. */
export const MODULE_BLACKLIST_TYPE = "ModuleBlacklist";

/** The file written under `/etc/modprobe.d` when `fileName` is not given. */
export const DEFAULT_FILE_NAME = "pulumi-conntrack-blacklist.conf";

/** Most modules one resource manages: a guard against a runaway list, far above any real use. */
export const MAX_MODULES = 200;

/**
 * The kernel treats `-` and `_` in module names alike (`/sys/module` and `lsmod` show `_`); this
 * is the name it uses.
 */
export function canonicalModuleName(name: string): string {
  return name.replace(/-/g, "_");
}

const moduleName = z
  .string()
  .regex(
    MODULE_NAME,
    "must be a kernel module name: letters, digits, '_' and '-' (not first), at most 55 characters; no paths, spaces or shell characters",
  );

/**
 * The module list: validated, duplicates refused (`nf-conntrack` and `nf_conntrack` are the same
 * module), then canonical (`_`) and sorted, so that the order in the program never shows as a change.
 */
const moduleList = z
  .array(moduleName)
  .min(1, "must name at least one module")
  .max(MAX_MODULES, `at most ${MAX_MODULES} modules`)
  .superRefine((list, ctx) => {
    const first = new Map<string, number>();
    list.forEach((name, i) => {
      if (name === UNKNOWN) return;
      const c = canonicalModuleName(name);
      const j = first.get(c);
      if (j === undefined) first.set(c, i);
      else
        ctx.addIssue({
          code: "custom",
          path: [i],
          message: `duplicate of modules[${j}] ("${list[j]}"): the kernel treats '-' and '_' alike`,
        });
    });
  })
  // A value not known yet (preview) must reach the engine unchanged, so such a list is left as is.
  .transform((list) => (list.includes(UNKNOWN) ? list : list.map(canonicalModuleName).sort()));

/** How strongly the managed file keeps the modules out. */
export const MODES = ["disable", "blacklist"] as const;

/** When the initramfs is regenerated after the managed file changes. */
export const INITRAMFS_POLICIES = ["auto", "always", "never"] as const;

/**
 * Inputs of a ModuleBlacklist.
 *
 * - `modules`: modules to keep out of the kernel.
 * - `mode`: `disable` (default) writes `install <m> /bin/false` and `blacklist <m>`: the module is
 *   not loaded by name, as a dependency, nor on a kernel request (`iptables -t nat -L` makes the
 *   kernel ask for `iptable_nat`). `blacklist` writes only `blacklist <m>`, which is weak: it
 *   ignores the module's aliases but `modprobe <m>`, dependencies and kernel requests still load it.
 * - `unload`: also remove the modules now (`modprobe -r`, in dependency order, which also removes
 *   dependencies nothing else uses). Default false: loaded modules stay loaded until reboot.
 * - `initramfs`: `auto` (default) regenerates the initramfs (`update-initramfs -u` or `dracut -f`)
 *   when one of the modules (or an older copy of the managed file) is inside it, since early boot
 *   loads modules before the root file system's `/etc/modprobe.d` is read; `always` regenerates
 *   whenever the file changes; `never` does not.
 * - `fileName`: the managed file under `/etc/modprobe.d` (must end in `.conf`, which is all modprobe
 *   reads). Changing it replaces the resource.
 */
export const ModuleBlacklistSchema = z
  .object({
    connection: ConnectionSchema,
    modules: moduleList,
    mode: z.enum(MODES).default("disable"),
    unload: z.boolean().default(false),
    initramfs: z.enum(INITRAMFS_POLICIES).default("auto"),
    fileName: z
      .string()
      .regex(
        MODPROBE_FILE_NAME,
        "must be a plain file name ending in .conf (letters, digits, '.', '_', '-'; no '/'), which is all modprobe reads",
      )
      .default(DEFAULT_FILE_NAME),
  })
  .strict();

/** Inputs after validation and defaults. */
export type ModuleBlacklistInputs = z.output<typeof ModuleBlacklistSchema>;
/** What a program passes (before defaults). */
export type ModuleBlacklistInput = z.input<typeof ModuleBlacklistSchema>;
/** `disable` or `blacklist`. */
export type BlacklistMode = (typeof MODES)[number];
/** `auto`, `always` or `never`. */
export type InitramfsPolicy = (typeof INITRAMFS_POLICIES)[number];
