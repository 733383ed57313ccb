/**
 * IPv4/IPv6 addresses and CIDR blocks in the form iptables and nftables print them, so a rule read
 * back from the host compares equal to the rule the program asked for.
 */

/** An address family of a rule. */
export type Family = "ipv4" | "ipv6";

/** A parsed address block: the network address as a big integer and its prefix length. */
export interface Cidr {
  family: Family;
  /** Network address with the host bits cleared. */
  network: bigint;
  prefix: number;
}

const BITS: Record<Family, number> = { ipv4: 32, ipv6: 128 };

function parseIpv4(s: string): bigint | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    // Leading zeros are refused: inet_aton reads them as octal, inet_pton refuses them.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseIpv6(s: string): bigint | undefined {
  if (!/^[0-9A-Fa-f:.]+$/.test(s) || s.length > 45) return undefined;
  let groups: number[] = [];
  let tail = s;
  // An embedded IPv4 address in the last 32 bits (::ffff:1.2.3.4).
  const lastColon = s.lastIndexOf(":");
  let v4: bigint | undefined;
  if (s.slice(lastColon + 1).includes(".")) {
    v4 = parseIpv4(s.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = s.slice(0, lastColon + 1) + "0:0";
  }
  const halves = tail.split("::");
  if (halves.length > 2) return undefined;
  const parseGroups = (h: string): number[] | undefined => {
    if (h === "") return [];
    const out: number[] = [];
    for (const g of h.split(":")) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parseGroups(halves[0]);
  if (!head) return undefined;
  if (halves.length === 2) {
    const rest = parseGroups(halves[1]);
    if (!rest || head.length + rest.length > 7) return undefined;
    groups = [...head, ...new Array(8 - head.length - rest.length).fill(0), ...rest];
  } else {
    if (head.length !== 8) return undefined;
    groups = head;
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  if (v4 !== undefined) v = (v & ~0xffffffffn) | v4;
  return v;
}

/** Parses a bare address of either family. */
export function parseAddress(s: string): { family: Family; value: bigint } | undefined {
  const v4 = parseIpv4(s);
  if (v4 !== undefined) return { family: "ipv4", value: v4 };
  const v6 = parseIpv6(s);
  if (v6 !== undefined) return { family: "ipv6", value: v6 };
  return undefined;
}

/**
 * Parses `addr` or `addr/prefix`. Host bits are cleared, as iptables and nft do (`10.0.0.5/24` is
 * `10.0.0.0/24` once in the kernel); an IPv4 prefix may also be given as a dotted mask.
 */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf("/");
  const addr = parseAddress(slash < 0 ? s : s.slice(0, slash));
  if (!addr) return undefined;
  const bits = BITS[addr.family];
  let prefix = bits;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (/^(0|[1-9][0-9]{0,2})$/.test(p)) {
      prefix = Number(p);
      if (prefix > bits) return undefined;
    } else if (addr.family === "ipv4") {
      const mask = parseIpv4(p);
      if (mask === undefined) return undefined;
      const ones = mask.toString(2).replace(/^0+/, "");
      // Only contiguous masks (255.255.255.0): a wildcard mask has no CIDR form.
      if (mask !== 0n && (ones.length !== 32 || /01/.test(ones))) return undefined;
      prefix = mask === 0n ? 0 : ones.indexOf("0") < 0 ? 32 : ones.indexOf("0");
    } else {
      return undefined;
    }
  }
  const all = (1n << BigInt(bits)) - 1n;
  const hostMask = prefix === bits ? 0n : (1n << BigInt(bits - prefix)) - 1n;
  return { family: addr.family, network: addr.value & (all ^ hostMask), prefix };
}

function formatIpv4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join(".");
}

/** RFC 5952 text, with glibc's `inet_ntop` rule for embedded IPv4 (`::ffff:1.2.3.4`). */
function formatIpv6(v: bigint): string {
  const w: number[] = [];
  for (let i = 7; i >= 0; i--) w.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  let best = { base: -1, len: 0 };
  let cur = { base: -1, len: 0 };
  for (let i = 0; i < 8; i++) {
    if (w[i] === 0) {
      cur = cur.base < 0 ? { base: i, len: 1 } : { base: cur.base, len: cur.len + 1 };
      if (cur.len > best.len) best = { ...cur };
    } else {
      cur = { base: -1, len: 0 };
    }
  }
  if (best.len < 2) best = { base: -1, len: 0 };
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (best.base >= 0 && i >= best.base && i < best.base + best.len) {
      if (i === best.base) out += ":";
      continue;
    }
    if (i > 0) out += ":";
    if (i === 6 && best.base === 0 && (best.len === 6 || (best.len === 5 && w[5] === 0xffff))) {
      out += formatIpv4(v & 0xffffffffn);
      break;
    }
    out += w[i].toString(16);
  }
  if (best.base >= 0 && best.base + best.len === 8) out += ":";
  return out;
}

/** An address in the family's usual text form. */
export function formatAddress(family: Family, v: bigint): string {
  return family === "ipv4" ? formatIpv4(v) : formatIpv6(v);
}

/**
 * The canonical text of a block: the bare address for a single host (`/32`, `/128`), otherwise
 * `network/prefix`; `undefined` for `/0`, which matches everything and is what "no restriction"
 * means (iptables-save prints nothing for it).
 */
export function formatCidr(c: Cidr): string | undefined {
  if (c.prefix === 0) return undefined;
  const a = formatAddress(c.family, c.network);
  return c.prefix === BITS[c.family] ? a : `${a}/${c.prefix}`;
}

/** `text` in canonical form, or `undefined` for a `/0` block; throws on text that is no block. */
export function canonicalCidr(text: string): string | undefined {
  const c = parseCidr(text);
  if (!c) throw new TypeError(`not an address or CIDR block: ${text}`);
  return formatCidr(c);
}

/** Whether block `c` contains the address `v` of family `family`. */
export function cidrContains(c: Cidr, family: Family, v: bigint): boolean {
  if (c.family !== family) return false;
  const bits = BITS[family];
  const shift = BigInt(bits - c.prefix);
  return v >> shift === c.network >> shift;
}
