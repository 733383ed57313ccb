/**
 * Which ruleset a rule goes into, and how the host keeps it across a reboot. Both are decided from
 * an observation, so they are pure and tested without a host.
 */
import { NFT_TABLE } from "../../../common/markers";
import type { IptablesVariant, Observed } from "./observed";
import type { BackendChoice } from "../syntax/rule";
import type { ResolvedBackend } from "../syntax/rule";

/** The iptables variant of a resolved backend (undefined for native nftables). */
export function variantOf(b: ResolvedBackend | undefined): IptablesVariant | undefined {
  return b === "iptables-legacy" ? "legacy" : b === "iptables-nft" ? "nft" : undefined;
}

/** Tables iptables-nft creates; native nftables rulesets use other names or the `inet` family. */
const XTABLES_NAMES = new Set(["filter", "nat", "raw", "mangle", "security"]);
const XTABLES_FAMILIES = new Set(["ip", "ip6", "arp", "bridge"]);

/** nft tables that iptables-nft manages (`ip filter`, `ip6 raw`...). */
export function xtablesTables(tables: readonly string[]): string[] {
  return tables.filter((t) => {
    const [family, name] = t.split(/\s+/);
    return XTABLES_FAMILIES.has(family) && XTABLES_NAMES.has(name);
  });
}

/** nft tables written natively (neither iptables-nft's nor this package's). */
export function nativeNftTables(tables: readonly string[]): string[] {
  const x = new Set(xtablesTables(tables));
  return tables.filter((t) => !x.has(t) && t !== `inet ${NFT_TABLE}`);
}

/** A backend decision, or why none can be made. */
export type BackendDecision = { ok: true; backend: ResolvedBackend; reason: string } | { ok: false; reason: string };

/**
 * Picks the backend. `iptables` means the variant the host's `iptables` command is (rules added
 * through one variant are invisible to the other, so the two are never mixed). `auto` picks what the
 * host really runs:
 * 1. this package's nft table already exists: nftables (one host, one backend);
 * 2. `iptables` is legacy: iptables-legacy, unless no legacy table exists and native nft tables do;
 * 3. `iptables` is nf_tables: iptables-nft when iptables-nft tables exist (Docker, kube-proxy,
 *    a saved iptables ruleset), otherwise native nftables when `nft` is installed;
 * 4. no iptables: nftables when `nft` is installed.
 */
export function resolveBackend(choice: BackendChoice, o: Observed): BackendDecision {
  const ipt = o.iptables;
  const iptBackend: ResolvedBackend | undefined = ipt.present ? (ipt.current === "legacy" ? "iptables-legacy" : "iptables-nft") : undefined;
  if (choice === "iptables") {
    if (!iptBackend)
      return {
        ok: false,
        reason: `backend "iptables" was asked for but ${o.family === "ipv6" ? "ip6tables" : "iptables"} is not installed`,
      };
    return { ok: true, backend: iptBackend, reason: `iptables asked for; the host's iptables is ${ipt.version ?? iptBackend}` };
  }
  if (choice === "nftables") {
    if (!o.nft.present) return { ok: false, reason: 'backend "nftables" was asked for but nft is not installed' };
    return { ok: true, backend: "nftables", reason: "nftables asked for" };
  }
  if (o.nft.tables.includes(`inet ${NFT_TABLE}`))
    return { ok: true, backend: "nftables", reason: `table inet ${NFT_TABLE} exists: other NotrackRules on this host use nftables` };
  const native = nativeNftTables(o.nft.tables);
  if (iptBackend === "iptables-legacy") {
    if (o.legacyTables.length === 0 && native.length > 0 && o.nft.present) {
      return {
        ok: true,
        backend: "nftables",
        reason: `no legacy iptables table is in use and native nft tables are (${native.join(", ")})`,
      };
    }
    return { ok: true, backend: "iptables-legacy", reason: `the host's iptables is ${ipt.version ?? "legacy"}` };
  }
  if (iptBackend === "iptables-nft") {
    const x = xtablesTables(o.nft.tables);
    if (x.length > 0 || !o.nft.present)
      return {
        ok: true,
        backend: "iptables-nft",
        reason: x.length ? `iptables-nft tables are in use (${x.join(", ")})` : "nft is not installed",
      };
    return { ok: true, backend: "nftables", reason: "the host's iptables is nf_tables-based and no iptables-nft table is in use" };
  }
  if (o.nft.present) return { ok: true, backend: "nftables", reason: "iptables is not installed" };
  return { ok: false, reason: "neither iptables nor nft is installed" };
}

/** How a rule survives a reboot. */
export type PersistenceMechanism = "netfilter-persistent" | "iptables-services" | "nftables" | "none" | "disabled";

/** The persistence of one rule, reported in the outputs. */
export interface Persistence {
  mechanism: PersistenceMechanism;
  /** The saved-ruleset file the rule is kept in. */
  file?: string;
  /** What the operator should know (nothing loads the file at boot, no mechanism found...). */
  note?: string;
}

/** A `systemctl is-enabled` answer that means the unit does not start at boot. */
function isOff(state: string | undefined): boolean {
  return state === "disabled" || state === "masked" || state === "masked-runtime" || state === "linked";
}

/**
 * What an operator must hear about a rule's persistence (through `pulumi.log.warn`): for a rule
 * that is to survive reboots, every reason it may not (the unit that loads the file is disabled, no
 * mechanism, a `flush ruleset` that runs after it). Empty for `persist: false`, which asks for
 * exactly that, and when nothing is wrong.
 */
export function persistenceWarnings(p: Persistence, persist: boolean): string[] {
  if (!persist || !p.note) return [];
  return [`persist is true but the rule may not survive a reboot: ${p.note}`];
}

const RHEL_LIKE = /^(rhel|centos|fedora|rocky|almalinux|ol|amzn)$/;

/**
 * The mechanism for a rule of `backend`:
 * - iptables: Debian/Ubuntu `netfilter-persistent` (`/etc/iptables/rules.v4`/`rules.v6`) when that
 *   file exists, else RHEL `iptables-services` (`/etc/sysconfig/iptables`/`ip6tables`) when that
 *   file exists; with neither file, whichever tool is installed (or its directory exists);
 * - nftables: `/etc/nftables.conf` (Debian), else `/etc/sysconfig/nftables.conf` (RHEL).
 */
export function persistenceFor(backend: ResolvedBackend, o: Observed, persist: boolean): Persistence {
  if (!persist) return { mechanism: "disabled", note: "persist is false: the rule is gone after a reboot" };
  const v6 = o.family === "ipv6";
  const files = o.persist.files;
  if (backend === "nftables") {
    const file = ["/etc/nftables.conf", "/etc/sysconfig/nftables.conf"].find((f) => files[f]);
    if (!file)
      return { mechanism: "none", note: "no nftables configuration file (/etc/nftables.conf) found: the rule is gone after a reboot" };
    const st = o.persist.nftService;
    const note =
      st === "enabled" || st === "static" || st === "alias"
        ? undefined
        : st
          ? `nftables.service is ${st}: ${file} is not loaded at boot until it is enabled (systemctl enable nftables)`
          : `could not tell whether nftables.service is enabled; ${file} holds the rule for whatever loads it at boot`;
    return { mechanism: "nftables", file, ...(note ? { note } : {}) };
  }
  const debian = v6 ? "/etc/iptables/rules.v6" : "/etc/iptables/rules.v4";
  const rhel = v6 ? "/etc/sysconfig/ip6tables" : "/etc/sysconfig/iptables";
  const hasNetfilterPersistent = o.facts.binaries["netfilter-persistent"] !== undefined;
  const flush =
    backend === "iptables-nft" &&
    o.persist.nftService === "enabled" &&
    /^\s*flush\s+ruleset\b/m.test(files["/etc/nftables.conf"]?.content ?? "")
      ? "nftables.service is enabled and /etc/nftables.conf runs `flush ruleset`, which also removes iptables-nft rules when it runs after the saved rules are restored at boot"
      : undefined;
  const nfp = o.persist.netfilterPersistentService;
  const nfpOff =
    hasNetfilterPersistent && isOff(nfp)
      ? `netfilter-persistent.service is ${nfp}: ${debian} is not loaded at boot until it is enabled (systemctl enable netfilter-persistent)`
      : undefined;
  const debianNote =
    [
      hasNetfilterPersistent
        ? nfpOff
        : "netfilter-persistent is not installed: nothing loads the file at boot until it is (apt install iptables-persistent)",
      flush,
    ]
      .filter(Boolean)
      .join("; ") || undefined;
  const unit = v6 ? "ip6tables.service" : "iptables.service";
  const ipt = o.persist.iptablesService;
  const rhelNote =
    [isOff(ipt) ? `${unit} is ${ipt}: ${rhel} is not loaded at boot until it is enabled (systemctl enable ${unit})` : undefined, flush]
      .filter(Boolean)
      .join("; ") || undefined;
  if (files[debian]) return { mechanism: "netfilter-persistent", file: debian, ...(debianNote ? { note: debianNote } : {}) };
  if (files[rhel]) return { mechanism: "iptables-services", file: rhel, ...(rhelNote ? { note: rhelNote } : {}) };
  if (hasNetfilterPersistent || o.persist.etcIptablesDir)
    return { mechanism: "netfilter-persistent", file: debian, ...(debianNote ? { note: debianNote } : {}) };
  const rhelLike = RHEL_LIKE.test(o.facts.os.id) || o.facts.os.like.some((l) => RHEL_LIKE.test(l));
  if (o.persist.iptablesServices || (o.persist.sysconfigDir && rhelLike))
    return { mechanism: "iptables-services", file: rhel, ...(rhelNote ? { note: rhelNote } : {}) };
  return {
    mechanism: "none",
    note: "no known persistence mechanism (netfilter-persistent, iptables-services) found: the rule is gone after a reboot",
  };
}
