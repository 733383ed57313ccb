import { MANAGED_FILE_HEADER, MODPROBE_DIR } from "../../common/markers";

/** The three files a `ConntrackTableSize` may own on a host, by role. */
export type FileRole = "sysctl" | "modprobe" | "udev";

/** Every role, in the order files are written and reported. */
export const FILE_ROLES: readonly FileRole[] = ["sysctl", "modprobe", "udev"];

/**
 * Fixed paths: a host has one table, so one resource owns these. The sysctl.d name sorts late
 * (`90-`) so that it overrides the distribution's defaults, as systemd-sysctl applies files in
 * name order and the last assignment wins.
 */
export const MANAGED_PATHS: Readonly<Record<FileRole, string>> = {
  sysctl: "/etc/sysctl.d/90-pulumi-conntrack-table.conf",
  modprobe: `${MODPROBE_DIR}/pulumi-conntrack-table.conf`,
  udev: "/etc/udev/rules.d/90-pulumi-conntrack-table.rules",
};

/** True when `content` starts with the header every file of this package carries. */
export function isManagedContent(content: string): boolean {
  return content.split("\n", 1)[0] === MANAGED_FILE_HEADER;
}

/** The sysctl.d file: `key = value` lines for the table size and timeouts. */
export function sysctlFileContent(entries: ReadonlyArray<readonly [string, number]>): string {
  return [
    MANAGED_FILE_HEADER,
    "# ConntrackTableSize: conntrack table size and timeouts, applied by systemd-sysctl at boot and (through",
    `# ${MANAGED_PATHS.udev}) again whenever the nf_conntrack module loads.`,
    ...entries.map(([k, v]) => `net.netfilter.${k} = ${v}`),
    "",
  ].join("\n");
}

/** The modprobe.d file: the hash size nf_conntrack allocates when it loads. */
export function modprobeFileContent(buckets: number): string {
  return [
    MANAGED_FILE_HEADER,
    "# ConntrackTableSize: hash buckets of the conntrack table, read when nf_conntrack loads.",
    `options nf_conntrack hashsize=${buckets}`,
    "",
  ].join("\n");
}

/**
 * The udev rule that re-applies the `net.netfilter` sysctls when `nf_conntrack` loads after
 * systemd-sysctl ran at boot (the keys do not exist before the module is loaded, so the boot-time
 * run fails on them). This is the mechanism sysctl.d(5) documents for module-provided keys.
 */
export function udevRuleContent(systemdSysctl: string): string {
  return [
    MANAGED_FILE_HEADER,
    "# ConntrackTableSize: net.netfilter.* keys exist only once nf_conntrack is loaded; apply them again when it loads (sysctl.d(5)).",
    `ACTION=="add", SUBSYSTEM=="module", KERNEL=="nf_conntrack", RUN+="${systemdSysctl} --prefix=/net/netfilter"`,
    "",
  ].join("\n");
}

/** Lines of a file found at a managed path that are not comments or blank (a file we may not take over). */
export function foreignLines(content: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  content.split("\n").forEach((text, i) => {
    const t = text.trim();
    if (t !== "" && !t.startsWith("#")) out.push({ line: i + 1, text });
  });
  return out;
}
