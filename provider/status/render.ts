import type { HostStatus, StatName } from "./parse";

/** One host's line of a status run: its status, or why it could not be read. */
export type StatusRow = { host: string; ok: true; status: HostStatus } | { host: string; ok: false; error: string };

/** The usual alert threshold (node-mixin `NodeHighNumberConntrackEntriesUsed`: entries / limit > 0.75). */
export const DEFAULT_WARN_AT = 0.75;

/** Exit code bits of the command: a host above the threshold, a host that could not be read. */
export const EXIT_ABOVE = 1;
export const EXIT_UNREADABLE = 2;

/** `[#####...............]`: usage as a bar of `width` cells (`?` cells when unknown). */
export function usageBar(usage: number | null, width = 20): string {
  if (usage === null) return `[${"?".repeat(width)}]`;
  const filled = Math.min(width, Math.round(Math.max(0, usage) * width));
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
}

/** Whether a host's table is above the threshold (strictly, as the alert rule compares). */
export function aboveThreshold(s: HostStatus, warnAt: number): boolean {
  return s.usage !== null && s.usage > warnAt;
}

/** The command's exit code for these rows: bits {@link EXIT_ABOVE} and {@link EXIT_UNREADABLE}. */
export function exitCodeOf(rows: readonly StatusRow[], warnAt: number): number {
  let code = 0;
  for (const r of rows) {
    if (!r.ok) code |= EXIT_UNREADABLE;
    else if (aboveThreshold(r.status, warnAt)) code |= EXIT_ABOVE;
  }
  return code;
}

const COUNTERS: Array<[StatName, string]> = [
  ["found", "found"],
  ["invalid", "invalid"],
  ["insert_failed", "ins_fail"],
  ["drop", "drop"],
  ["early_drop", "early_drop"],
  ["search_restart", "restart"],
  ["clash_resolve", "clash"],
  ["chaintoolong", "chain2long"],
];

function notrackCell(s: HostStatus): string {
  if (s.notrack.length === 0) return "-";
  const counted = s.notrack.filter((c) => c.packets !== null);
  const pkts = counted.reduce((a, c) => a + (c.packets ?? 0), 0);
  const uncounted = s.notrack.length - counted.length;
  return `${s.notrack.length} rules ${counted.length ? `${pkts} pkts` : ""}${uncounted ? `${counted.length ? ", " : ""}${uncounted} uncounted` : ""}`.trim();
}

function helpersCell(s: HostStatus): string {
  const used = s.helperModules.filter((m) => m.refcnt !== null && m.refcnt > 0).map((m) => `${m.name}(${m.refcnt})`);
  const rules = s.helperRules.map((h) => `CT:${h}`);
  const all = [...rules, ...used];
  return all.length ? all.join(",") : "-";
}

/**
 * The human table: one row per host (count/max with a usage bar, buckets, the counters summed over
 * CPUs, helpers in use, NOTRACK counters, the source of the counters), then notes on what is
 * missing and the hosts that could not be read. Pure.
 */
export function renderTable(rows: readonly StatusRow[], warnAt = DEFAULT_WARN_AT): string {
  const head = ["HOST", "COUNT/MAX", "USAGE", "BUCKETS", ...COUNTERS.map(([, h]) => h), "HELPERS", "NOTRACK", "SOURCE"];
  const body: string[][] = [];
  const notes: string[] = [];
  for (const r of rows) {
    if (!r.ok) {
      body.push([r.host, "unreachable", "", "", ...COUNTERS.map(() => ""), "", "", ""]);
      notes.push(`${r.host}: ${r.error.split("\n")[0]}`);
      continue;
    }
    const s = r.status;
    const pct = s.usage === null ? "?" : `${(s.usage * 100).toFixed(1)}%`;
    const flag = aboveThreshold(s, warnAt) ? " !" : "";
    body.push([
      r.host,
      `${s.count ?? "?"}/${s.max ?? "?"}`,
      `${usageBar(s.usage)} ${pct}${flag}`,
      String(s.buckets ?? "?"),
      ...COUNTERS.map(([k]) => (s.stats[k] === undefined ? "-" : String(s.stats[k]))),
      helpersCell(s),
      notrackCell(s),
      s.source,
    ]);
    for (const m of s.missing) notes.push(`${r.host}: ${m}`);
    if (aboveThreshold(s, warnAt)) notes.push(`${r.host}: table ${pct} full, above --warn-at ${(warnAt * 100).toFixed(0)}%`);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  const out = [line(head), ...body.map(line)];
  if (notes.length) out.push("", ...notes);
  return out.join("\n") + "\n";
}

/** The machine-readable form (`--json`): every host with its status or error, and the threshold verdicts. Pure. */
export function renderJson(rows: readonly StatusRow[], warnAt = DEFAULT_WARN_AT): string {
  const hosts = rows.map((r) =>
    r.ok
      ? { host: r.host, ok: true, aboveWarnAt: aboveThreshold(r.status, warnAt), ...r.status }
      : { host: r.host, ok: false, error: r.error },
  );
  return JSON.stringify({ warnAt, exitCode: exitCodeOf(rows, warnAt), hosts }, null, 2) + "\n";
}
