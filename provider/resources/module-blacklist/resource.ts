import * as pulumi from "@pulumi/pulumi";
import { secretConnection, withSecretConnection, type ConnectionArgs } from "../../common/resource-options";
import type { Assert, DeclaresOutputs } from "../../common/output-names";
import { outputSlots } from "../../common/output-names";
import { thinProvider, TYPE_MODULE } from "../../common/thin-provider";
import { MODULE_BLACKLIST_OUTPUT_NAMES, type ModuleBlacklistOutputs } from "./outputs";
import type { ReplacedFile } from "./managed-file";
import type { ModuleStatus } from "./plan";
import { MODULE_BLACKLIST_TYPE, type BlacklistMode, type InitramfsPolicy } from "./schema";

/** Arguments of {@link ModuleBlacklist}. */
export interface ModuleBlacklistArgs {
  /**
   * How to reach the host: the shape of `@pulumi/command`'s `types.input.remote.ConnectionArgs`,
   * plus `sudo` for a non-root user with passwordless sudo. Stored as a secret.
   */
  connection: pulumi.Input<ConnectionArgs>;
  /**
   * Modules to keep out, e.g. `["iptable_nat", "nf_nat", "nf_conntrack"]`. Order does not matter;
   * `-` and `_` are the same to the kernel, so `nf-conntrack` and `nf_conntrack` together are
   * refused as duplicates.
   */
  modules: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * `disable` (default): `install <m> /bin/false` plus `blacklist <m>`; the module is not loaded by
   * name, as a dependency, nor when the kernel asks for it. `blacklist`: aliases only, which is weak:
   * `modprobe <m>`, dependants and kernel requests (`iptables -t nat -L`) still load it.
   */
  mode?: pulumi.Input<BlacklistMode>;
  /**
   * Also unload the modules now, in dependency order, with their now-unused dependencies
   * (`modprobe -r`). Default `false`. Fails, naming holders and use counts, when a module is in
   * use; the file is written first either way. Refused for built-in modules.
   */
  unload?: pulumi.Input<boolean>;
  /**
   * Regenerate the running kernel's initramfs after the file changes: `auto` (default) when one of
   * the modules (or an older copy of the file) is inside it; `always`; `never`.
   */
  initramfs?: pulumi.Input<InitramfsPolicy>;
  /** The file under `/etc/modprobe.d` this resource owns. Default `pulumi-conntrack-blacklist.conf`. */
  fileName?: pulumi.Input<string>;
}

/**
 * Keeps kernel modules out of a host through one managed file under `/etc/modprobe.d` (the seed
 * case: `iptables -t nat -L` pulls in `iptable_nat`, `nf_nat` and `nf_conntrack`; the operator
 * removes them and wants them to stay out).
 *
 * A module built into the kernel cannot be kept out this way: its `moduleStates[].builtIn` and
 * `effective` are then false and `notes` says what can (the kernel command line). Refuses to keep
 * out `nf_conntrack` and what NOTRACK needs while NotrackRules of this package are on the host.
 *
 * Delete removes the file (or restores the file it replaced, byte for byte) and regenerates the
 * initramfs when create did; it leaves loaded and unloaded modules as they are. `warnings` (the
 * notes that say a module is not kept out) are logged to the engine at warning level by the
 * provider on create, refresh and update.
 */
export class ModuleBlacklist extends pulumi.dynamic.Resource {
  /** The modules, canonical (`_`) and sorted. */
  declare readonly modules: pulumi.Output<string[]>;
  /** `disable` or `blacklist`. */
  declare readonly mode: pulumi.Output<BlacklistMode>;
  /** Whether the modules are unloaded as well. */
  declare readonly unload: pulumi.Output<boolean>;
  /** `auto`, `always` or `never`. */
  declare readonly initramfs: pulumi.Output<InitramfsPolicy>;
  /** The managed file's name under `/etc/modprobe.d`. */
  declare readonly fileName: pulumi.Output<string>;
  /** `/etc/modprobe.d/<fileName>`. */
  declare readonly path: pulumi.Output<string>;
  /** `uname -r` of the host. */
  declare readonly kernelRelease: pulumi.Output<string>;
  /** Per module: loaded, built in, blocked by the file, effective. */
  declare readonly moduleStates: pulumi.Output<ModuleStatus[]>;
  /** Every module is effectively kept out. */
  declare readonly effective: pulumi.Output<boolean>;
  /** This resource has regenerated the initramfs. */
  declare readonly initramfsRegenerated: pulumi.Output<boolean>;
  /** Modules the last create/update unloaded (listed ones and unused dependencies). */
  declare readonly unloaded: pulumi.Output<string[]>;
  /** The file create replaced (restored on delete); null when there was none. */
  declare readonly replacedFile: pulumi.Output<ReplacedFile | null>;
  /** What the last refresh found changed on the host. */
  declare readonly drift: pulumi.Output<string[]>;
  /** The next `pulumi up` repairs some of the drift. */
  declare readonly driftRepairable: pulumi.Output<boolean>;
  /** What the operator should know. */
  declare readonly notes: pulumi.Output<string[]>;
  /** The notes that say a module is NOT kept out; the provider also logs them as engine warnings. */
  declare readonly warnings: pulumi.Output<string[]>;

  constructor(name: string, args: ModuleBlacklistArgs, opts?: pulumi.CustomResourceOptions) {
    const props = {
      ...args,
      connection: secretConnection(args.connection),
      ...outputSlots(MODULE_BLACKLIST_OUTPUT_NAMES),
    };
    super(thinProvider(MODULE_BLACKLIST_TYPE), name, props, withSecretConnection(opts), TYPE_MODULE, MODULE_BLACKLIST_TYPE);
  }
}

// Compile-time only: every output is declared on the class, as `pulumi.Output` of its type.
type _FieldsAreTheOutputs = Assert<DeclaresOutputs<ModuleBlacklist, ModuleBlacklistOutputs, typeof MODULE_BLACKLIST_OUTPUT_NAMES>>;
