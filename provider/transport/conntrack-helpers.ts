/**
 * The conntrack helpers a `ConntrackHelperRule` can attach, as data: the kernel module that holds
 * each, the kernel's name of the helper per protocol (what `-j CT --helper` and nft's
 * `ct helper { type ... }` take), and the deterministic name of the nft `ct helper` object this
 * package declares for it. Pure. Shared here because two kinds read it: ConntrackHelperRule writes
 * the rules, and ModuleBlacklist refuses to keep out a helper module such a rule uses.
 */

/** The protocols helpers track (a subset of the rule's protocols, named here so that `rule.ts` can name helpers). */
export type HelperProtocol = "tcp" | "udp";

/** Helpers by the name a program gives (the module name without `nf_conntrack_`, `-` for `_`). */
export const HELPERS = ["ftp", "tftp", "sip", "irc", "h323", "pptp", "snmp", "netbios-ns", "amanda"] as const;
/** A helper as a program names it. */
export type HelperName = (typeof HELPERS)[number];

/** What the kernel calls one helper and where it lives. */
export interface HelperInfo {
  /** The kernel module (`nf_conntrack_ftp`); on a kernel with it built in there is nothing to load. */
  module: string;
  /**
   * The kernel's helper name for each protocol it tracks (`nf_conntrack_helper` registrations):
   * H.323 registers `Q.931` (tcp) and `RAS` (udp), SIP one `sip` for each.
   */
  kernelNames: Partial<Record<HelperProtocol, string>>;
}

/** The helpers, from the kernel's `nf_conntrack_*.c` registrations. */
export const HELPER_INFO: Record<HelperName, HelperInfo> = {
  ftp: { module: "nf_conntrack_ftp", kernelNames: { tcp: "ftp" } },
  tftp: { module: "nf_conntrack_tftp", kernelNames: { udp: "tftp" } },
  sip: { module: "nf_conntrack_sip", kernelNames: { udp: "sip", tcp: "sip" } },
  irc: { module: "nf_conntrack_irc", kernelNames: { tcp: "irc" } },
  h323: { module: "nf_conntrack_h323", kernelNames: { tcp: "Q.931", udp: "RAS" } },
  pptp: { module: "nf_conntrack_pptp", kernelNames: { tcp: "pptp" } },
  snmp: { module: "nf_conntrack_snmp", kernelNames: { udp: "snmp" } },
  "netbios-ns": { module: "nf_conntrack_netbios_ns", kernelNames: { udp: "netbios-ns" } },
  amanda: { module: "nf_conntrack_amanda", kernelNames: { udp: "amanda" } },
};

/** The kernel modules of all helpers, in {@link HELPERS} order. */
export const HELPER_MODULES: readonly string[] = HELPERS.map((h) => HELPER_INFO[h].module);

/** Whether `s` names a helper of {@link HELPERS}. */
export function isHelperName(s: unknown): s is HelperName {
  return typeof s === "string" && (HELPERS as readonly string[]).includes(s);
}

/** The protocols a helper tracks (`tcp`, `udp`). */
export function helperProtocols(h: HelperName): HelperProtocol[] {
  return Object.keys(HELPER_INFO[h].kernelNames) as HelperProtocol[];
}

/** The kernel's helper name for `h` over `protocol`, or undefined when the helper does not track it. */
export function kernelHelperName(h: HelperName, protocol: string): string | undefined {
  return protocol === "tcp" || protocol === "udp" ? HELPER_INFO[h].kernelNames[protocol] : undefined;
}

/** The program's helper name of a kernel helper name over `protocol` (`Q.931`/tcp is `h323`). */
export function helperOfKernelName(kernelName: string, protocol: string): HelperName | undefined {
  return HELPERS.find((h) => kernelHelperName(h, protocol) === kernelName);
}

/**
 * The name of the nft `ct helper` object for a helper over a protocol (`ftp-tcp`, `h323-udp`): one
 * per pair in this package's table, shared by every rule that sets it, so the name is deterministic.
 */
export function helperObjectName(h: HelperName, protocol: string): string {
  return `${h}-${protocol}`;
}

/** The helper and protocol of an object name of {@link helperObjectName}, or undefined. */
export function parseHelperObjectName(name: string): { helper: HelperName; protocol: HelperProtocol } | undefined {
  const i = name.lastIndexOf("-");
  const helper = name.slice(0, i);
  const protocol = name.slice(i + 1) as HelperProtocol;
  if (i < 0 || !isHelperName(helper) || kernelHelperName(helper, protocol) === undefined) return undefined;
  return { helper, protocol };
}
