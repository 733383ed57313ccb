/** What every benchmark script reads from its command line and prints: one copy for all of them. */

/** The value after `--name` on the command line, if any. */
export function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/** A comma-separated list of numbers, or `dflt` when absent. */
export const list = (s: string | undefined, dflt: number[]): number[] => (s ? s.split(",").map(Number) : dflt);

/** The median (upper middle for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** A number for a table cell; "-" where there is none. */
export const fmt = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : "-");
