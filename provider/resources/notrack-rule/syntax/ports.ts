/**
 * Port matches: one port, or an inclusive range. Canonical form: a number for one port, `"lo:hi"`
 * for a range (iptables' own spelling; nft writes `lo-hi`).
 */

/** A port match in canonical form. */
export type PortSpec = number | `${number}:${number}`;

/** Result of parsing a port input. */
export type PortParse = { ok: true; value: PortSpec } | { ok: false; reason: string };

const PORT_TEXT = /^(0|[1-9][0-9]{0,4})$/;
const RANGE_TEXT = /^(0|[1-9][0-9]{0,4})\s*[:-]\s*(0|[1-9][0-9]{0,4})$/;

/**
 * Parses `53`, `"53"`, `"1024:65535"` or `"1024-65535"`. A range whose ends are equal is one port;
 * an inverted range is refused, as iptables refuses it.
 */
export function parsePort(v: unknown): PortParse {
  const bad: PortParse = { ok: false, reason: 'must be a port 0-65535 or a range "lo:hi" (e.g. 53 or "1024:65535")' };
  if (typeof v === "number") {
    if (!Number.isInteger(v) || v < 0 || v > 65535) return bad;
    return { ok: true, value: v };
  }
  if (typeof v !== "string") return bad;
  if (PORT_TEXT.test(v)) return parsePort(Number(v));
  const m = RANGE_TEXT.exec(v);
  if (!m) return bad;
  const lo = Number(m[1]);
  const hi = Number(m[2]);
  if (lo > 65535 || hi > 65535) return bad;
  if (lo > hi) return { ok: false, reason: `inverted range ${lo}:${hi}: the first port must not be above the second` };
  if (lo === hi) return { ok: true, value: lo };
  return { ok: true, value: `${lo}:${hi}` };
}

/** The inclusive bounds of a port match. */
export function portBounds(p: PortSpec): [number, number] {
  if (typeof p === "number") return [p, p];
  const [lo, hi] = p.split(":").map(Number);
  return [lo, hi];
}

/** Whether the match shares at least one port with the inclusive range `[lo, hi]`. */
export function portOverlaps(p: PortSpec, lo: number, hi: number): boolean {
  const [a, b] = portBounds(p);
  return a <= hi && lo <= b;
}

/** nft spelling: `53`, `1024-65535`. */
export function nftPort(p: PortSpec): string {
  return typeof p === "number" ? String(p) : p.replace(":", "-");
}
