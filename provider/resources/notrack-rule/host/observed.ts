/**
 * What one observation of a host holds: the data every planner and reader of NotrackRule works
 * from. Types only (and the list of files a rule may be saved in), so that the pure code below the
 * planner does not depend on the observe script.
 */
import type { HostFacts } from "../../../transport/facts";
import type { CoreBlock } from "../../../transport/conntrack-core";
import type { Family } from "../syntax/address";
import type { HelperModule } from "./helper-modules";

/** An iptables variant: the legacy xtables kernel tables or the nf_tables-based one. */
export type IptablesVariant = "legacy" | "nft";

/** Saved-ruleset files a rule of each family may be persisted in, in the order they are read. */
export const PERSIST_FILES: Record<Family, readonly string[]> = {
  ipv4: ["/etc/iptables/rules.v4", "/etc/sysconfig/iptables", "/etc/nftables.conf", "/etc/sysconfig/nftables.conf"],
  ipv6: ["/etc/iptables/rules.v6", "/etc/sysconfig/ip6tables", "/etc/nftables.conf", "/etc/sysconfig/nftables.conf"],
};

/** A file as read: its content and the hash the apply script checks before replacing it. */
export interface ObservedFile {
  /** The bytes, one character per byte (latin1). */
  content: string;
  sha256: string;
}

/** Everything one operation needs to know about the host, read in one round trip. */
export interface Observed {
  family: Family;
  facts: HostFacts;
  /** The management session as the host sees it, when it could be found. */
  session?: SshSession;
  /**
   * The modprobe.d lines that can keep out the conntrack core or a helper's module, as `ctk_conf_grep`
   * printed them (`MODPROBE_BLOCK_ERE`): an apply that adds rules checks under the host lock that
   * the ones its plan decided by are unchanged (see `modprobeGuard` in `batch/merge.ts`).
   */
  modprobeRows: string;
  /** Configuration that keeps nf_conntrack out. */
  conntrackBlocks: CoreBlock[];
  /** The conntrack helpers' modules (`nf_conntrack_ftp`...) by name: how each exists, what keeps it out (absent: not read). */
  helperModules?: Record<string, HelperModule>;
  iptables: {
    /** `iptables` (or `ip6tables` for IPv6) exists. */
    present: boolean;
    /** `iptables -V`. */
    version?: string;
    /** The variant the `iptables` command is now. */
    current?: IptablesVariant;
    /** The variant whose raw table was read (the recorded one, else the current one). */
    variant: IptablesVariant;
    /** `iptables-save -t raw` of that variant without comment lines (empty when no table). */
    save: string;
    /** Hash of each chain's `-A` lines, as the apply script computes it. */
    chainHashes: Record<string, string>;
    /** Why the raw table could not be read (then `save` is not to be trusted). */
    saveError?: string;
  };
  /** Tables of the legacy kernel tables that exist (`/proc/net/ip*_tables_names`), both families. */
  legacyTables: string[];
  nft: {
    present: boolean;
    /** `family name` of every nft table (`ip filter`, `inet pulumi_conntrack`). */
    tables: string[];
    /** JSON listing of this package's table; empty when absent. */
    tableJson: string;
    /** Hash of that listing, as the apply script computes it. */
    tableHash: string;
    /** `false` when nft cannot list in JSON (built without it): the table cannot be read. */
    json?: boolean;
  };
  persist: {
    etcIptablesDir: boolean;
    sysconfigDir: boolean;
    /** RHEL's `iptables-services` init script exists. */
    iptablesServices: boolean;
    /** The state `systemctl is-enabled nftables.service` answers (its unit file's state), when systemctl answered. */
    nftService?: string;
    /** `systemctl is-enabled netfilter-persistent.service`, when systemctl answered. */
    netfilterPersistentService?: string;
    /** `systemctl is-enabled iptables.service` (`ip6tables.service` for IPv6), when systemctl answered. */
    iptablesService?: string;
    /** Existing candidate files (see {@link PERSIST_FILES}) by path. */
    files: Record<string, ObservedFile>;
  };
}

/** The management session as the host sees it (`$SSH_CONNECTION`). */
export interface SshSession {
  clientAddress: string;
  clientPort: number;
  serverAddress: string;
  serverPort: number;
}
