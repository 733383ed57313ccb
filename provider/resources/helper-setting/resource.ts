import * as pulumi from "@pulumi/pulumi";
import type { Assert, DeclaresOutputs } from "../../common/output-names";
import { outputSlots } from "../../common/output-names";
import { thinProvider, TYPE_MODULE } from "../../common/thin-provider";
import { HELPER_SETTING_OUTPUT_NAMES, type HelperSettingOutputs } from "./outputs";
import { secretConnection, withSecretConnection, type ConnectionArgs } from "../../common/resource-options";
import type { ToggleValue } from "./managed-file";
import type { Conflict, ConntrackModule, Persistence, Toggle } from "./plan";
import { HELPER_SETTING_TYPE } from "./schema";

/** Arguments of {@link ConntrackHelperSetting}. */
export interface ConntrackHelperSettingArgs {
  /**
   * How to reach the host: the shape of `@pulumi/command`'s `types.input.remote.ConnectionArgs`
   * (so one object serves both packages), plus `sudo` for a non-root user with passwordless sudo.
   * Stored as a secret.
   */
  connection: pulumi.Input<ConnectionArgs>;
  /** Automatic conntrack helper assignment on or off. Default `false` (off: the secure setting). */
  enabled?: pulumi.Input<boolean>;
  /** Persist the value in `/etc/modprobe.d` so that it holds after a module reload or reboot. Default `true`. */
  persist?: pulumi.Input<boolean>;
  /** Name of the file under `/etc/modprobe.d` this resource owns. Default `pulumi-conntrack-helper.conf`. */
  fileName?: pulumi.Input<string>;
}

/**
 * Makes a host's automatic conntrack helper assignment (`net.netfilter.nf_conntrack_helper`) what
 * the program says. Where the kernel has the toggle (3.5 to 5.19) it sets the live value and the
 * module parameter and persists `options nf_conntrack nf_conntrack_helper=0|1` in its own file under
 * `/etc/modprobe.d`; where Linux 6.0 removed it, `enabled: false` succeeds without writing anything
 * (a stale option line in its file is removed) and `enabled: true` fails. Delete restores the values
 * the host had before create.
 */
export class ConntrackHelperSetting extends pulumi.dynamic.Resource {
  /** Automatic helper assignment as asked. */
  declare readonly enabled: pulumi.Output<boolean>;
  /** Whether the value is persisted. */
  declare readonly persist: pulumi.Output<boolean>;
  /** The managed file's name under `/etc/modprobe.d`. */
  declare readonly fileName: pulumi.Output<string>;
  /** `uname -r` of the host. */
  declare readonly kernelRelease: pulumi.Output<string>;
  /** `present`, or `removed` on Linux 6.0 and later. */
  declare readonly toggle: pulumi.Output<Toggle>;
  /** `loaded`, `builtin`, `not-loaded` or `absent`. */
  declare readonly nfConntrack: pulumi.Output<ConntrackModule>;
  /** The live value read back (null when not loaded or without toggle). */
  declare readonly liveValue: pulumi.Output<ToggleValue | null>;
  /** The module parameter read back (null when absent). */
  declare readonly moduleParameter: pulumi.Output<"Y" | "N" | null>;
  /** Path of the managed file when it exists. */
  declare readonly persistedFile: pulumi.Output<string | null>;
  /** Content of the managed file when it exists. */
  declare readonly persistedContent: pulumi.Output<string | null>;
  /** How the value survives a reload or reboot. */
  declare readonly persistence: pulumi.Output<Persistence>;
  /** The live value before this resource first changed it (restored on delete). */
  declare readonly previousLiveValue: pulumi.Output<ToggleValue | null>;
  /** The module parameter before this resource first changed it (restored on delete). */
  declare readonly previousModuleParameter: pulumi.Output<"Y" | "N" | null>;
  /** The managed file's content before create (restored on delete; null: there was none). */
  declare readonly previousFileContent: pulumi.Output<string | null>;
  /** The managed file's mode before create (restored on delete). */
  declare readonly previousFileMode: pulumi.Output<string | null>;
  /** Settings of the toggle elsewhere on the host. */
  declare readonly conflicts: pulumi.Output<Conflict[]>;
  /** What the operator must act on. */
  declare readonly warnings: pulumi.Output<string[]>;
  /** What the operator should know. */
  declare readonly notes: pulumi.Output<string[]>;
  /** What the last create or update changed. */
  declare readonly actions: pulumi.Output<string[]>;

  constructor(name: string, args: ConntrackHelperSettingArgs, opts?: pulumi.CustomResourceOptions) {
    const props = {
      ...args,
      connection: secretConnection(args.connection),
      ...outputSlots(HELPER_SETTING_OUTPUT_NAMES),
    };
    super(thinProvider(HELPER_SETTING_TYPE), name, props, withSecretConnection(opts), TYPE_MODULE, HELPER_SETTING_TYPE);
  }
}

// Compile-time only: every output is declared on the class, as `pulumi.Output` of its type.
type _FieldsAreTheOutputs = Assert<DeclaresOutputs<ConntrackHelperSetting, HelperSettingOutputs, typeof HELPER_SETTING_OUTPUT_NAMES>>;
