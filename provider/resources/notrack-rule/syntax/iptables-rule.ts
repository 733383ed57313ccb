/**
 * Raw-table rules (NOTRACK, or CT with a helper) in iptables-save / iptables-restore syntax:
 * rendering a rule exactly as iptables-save prints it, and reading saved rules back into a
 * {@link RuleSpec}, with iptables' own normalisation (`-m udp`, `/32`, `ipv6-icmp`, `-j NOTRACK` =
 * `-j CT --notrack`).
 */
import { canonicalCidr, type Family } from "./address";
import { helperOfKernelName, kernelHelperName } from "./helpers";
import { parsePort, type PortSpec } from "./ports";
import { TAG_PATTERN, tagMatches } from "./tag";
import type { Protocol, RuleSpec } from "./rule";
import { parseSavedRuleset, tableRules } from "./saved-ruleset";

/** One `-A` line of a saved table. */
export interface SavedRule {
  chain: string;
  /** 1-based position in its chain (what `iptables -I CHAIN N` takes). */
  index: number;
  /** The line as saved, starting with `-A`. */
  line: string;
}

/** A saved rule read back. */
export interface ParsedIptablesRule {
  /** The match, as far as it could be read. */
  spec: RuleSpec;
  /** Every `--comment` of the rule. */
  comments: string[];
  /** Whether the target is `CT --notrack` or its alias `NOTRACK`. */
  notrack: boolean;
  /** Parts this package does not write (extra matches, negations, another target). */
  extras: string[];
}

/** Splits an iptables-save line into words, honouring its double quotes and backslash escapes. */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i])) i++;
    if (i >= line.length) break;
    let tok = "";
    let quoted = false;
    while (i < line.length && (quoted || !/\s/.test(line[i]))) {
      const c = line[i];
      if (c === '"') {
        quoted = !quoted;
        i++;
      } else if (c === "\\" && i + 1 < line.length) {
        tok += line[i + 1];
        i += 2;
      } else {
        tok += c;
        i++;
      }
    }
    out.push(tok);
  }
  return out;
}

/** The `-A` lines of the `*raw` table in iptables-save output, with their positions. */
export function parseSavedRaw(save: string): SavedRule[] {
  return tableRules(parseSavedRuleset(save), "raw").map((l) => ({ chain: l.chain ?? "", index: l.index ?? 0, line: l.text }));
}

const PROTOCOL_NAMES: Record<string, Protocol> = {
  tcp: "tcp",
  "6": "tcp",
  udp: "udp",
  "17": "udp",
  sctp: "sctp",
  "132": "sctp",
  icmp: "icmp",
  "1": "icmp",
  icmpv6: "icmpv6",
  "ipv6-icmp": "icmpv6",
  "58": "icmpv6",
  all: "all",
  "0": "all",
};

/** The iptables spelling of a protocol, as iptables-save prints it. */
function iptablesProtocol(p: Protocol): string {
  return p === "icmpv6" ? "ipv6-icmp" : p;
}

function withPrefix(addr: string, family: Family): string {
  return addr.includes("/") ? addr : `${addr}/${family === "ipv4" ? 32 : 128}`;
}

/**
 * The rule as iptables-save prints it (`-A PREROUTING -p udp -m udp --dport 53 -m comment
 * --comment "tag" -j CT --notrack`), which is also valid iptables-restore input. Only validated
 * values reach here; the result is checked again so no other character can reach the host.
 */
export function renderIptablesRule(spec: RuleSpec, tag: string): string {
  if (!TAG_PATTERN.test(tag)) throw new TypeError(`bad rule tag ${JSON.stringify(tag)}`);
  const w: string[] = ["-A", spec.chain];
  if (spec.source) w.push("-s", withPrefix(spec.source, spec.family));
  if (spec.destination) w.push("-d", withPrefix(spec.destination, spec.family));
  if (spec.inInterface) w.push("-i", spec.inInterface);
  if (spec.outInterface) w.push("-o", spec.outInterface);
  if (spec.protocol !== "all") w.push("-p", iptablesProtocol(spec.protocol));
  if (spec.sourcePort !== undefined || spec.destinationPort !== undefined) {
    w.push("-m", spec.protocol);
    if (spec.sourcePort !== undefined) w.push("--sport", String(spec.sourcePort));
    if (spec.destinationPort !== undefined) w.push("--dport", String(spec.destinationPort));
  }
  w.push("-m", "comment", "--comment", `"${tag}"`, "-j", "CT", ...ctTarget(spec));
  const line = w.join(" ");
  if (!/^[A-Za-z0-9 ._:/+"-]+$/.test(line)) throw new TypeError(`refusing to send an unexpected rule text: ${JSON.stringify(line)}`);
  return line;
}

/** The CT target's options: `--notrack`, or `--helper` and the kernel's name of the helper. */
function ctTarget(spec: RuleSpec): string[] {
  if (spec.helper === undefined) return ["--notrack"];
  const name = kernelHelperName(spec.helper, spec.protocol);
  if (name === undefined) throw new TypeError(`helper ${spec.helper} does not track protocol ${spec.protocol}`);
  return ["--helper", name];
}

/** Reads a saved `-A` line of family `family` back into a match. */
export function parseIptablesRule(line: string, family: Family): ParsedIptablesRule {
  const t = tokenize(line);
  const extras: string[] = [];
  const comments: string[] = [];
  const spec: Partial<RuleSpec> & { family: Family } = { family, protocol: "all" };
  let notrack = false;
  // The kernel's helper name of a `-j CT --helper NAME` target, read once the protocol is known.
  let helperTarget: string | undefined;
  let module = "";
  // Index in `extras` of the match being read when it is one this package does not write.
  let foreign = -1;
  let i = 0;
  if (t[0] === "-A" || t[0] === "--append") {
    spec.chain = t[1] as RuleSpec["chain"];
    i = 2;
  }
  const value = () => t[++i] ?? "";
  const address = (key: "source" | "destination", text: string) => {
    try {
      const c = canonicalCidr(text);
      if (c !== undefined) spec[key] = c;
    } catch {
      extras.push(`${key} ${text}`);
    }
  };
  const port = (key: "sourcePort" | "destinationPort", text: string) => {
    const p = parsePort(text);
    if (p.ok) spec[key] = p.value as PortSpec;
    else extras.push(`${key} ${text}`);
  };
  for (; i < t.length; i++) {
    const tok = t[i];
    if (tok === "!") {
      // A negated match is not something this package writes: keep it whole as an extra.
      extras.push(`! ${t[i + 1] ?? ""} ${t[i + 2] ?? ""}`.trim());
      i += 2;
      continue;
    }
    switch (tok) {
      case "-s":
      case "--source":
        address("source", value());
        continue;
      case "-d":
      case "--destination":
        address("destination", value());
        continue;
      case "-i":
      case "--in-interface":
        spec.inInterface = value();
        continue;
      case "-o":
      case "--out-interface":
        spec.outInterface = value();
        continue;
      case "-p":
      case "--protocol": {
        const p = value();
        const name = PROTOCOL_NAMES[p.toLowerCase()];
        if (name) spec.protocol = name;
        else extras.push(`-p ${p}`);
        continue;
      }
      case "-m":
      case "--match":
        module = value();
        foreign = -1;
        if (module !== "comment" && !(module === spec.protocol && ["tcp", "udp", "sctp"].includes(module)))
          foreign = extras.push(`-m ${module}`) - 1;
        continue;
      case "-j":
      case "--jump": {
        const target = value();
        const opts: string[] = [];
        // Target options and their values run to the end of the line or the next short option.
        while (i + 1 < t.length && !/^-[A-Za-z]$/.test(t[i + 1]) && t[i + 1] !== "!") opts.push(value());
        if ((target === "CT" && opts.length === 1 && opts[0] === "--notrack") || (target === "NOTRACK" && opts.length === 0))
          notrack = true;
        else if (target === "CT" && opts.length === 2 && opts[0] === "--helper") helperTarget = opts[1];
        else extras.push(["-j", target, ...opts].join(" "));
        module = "";
        foreign = -1;
        continue;
      }
    }
    if (tok.startsWith("--") && module === "comment" && tok === "--comment") {
      comments.push(value());
      continue;
    }
    if (tok.startsWith("--") && module === spec.protocol && ["tcp", "udp", "sctp"].includes(module)) {
      if (tok === "--sport" || tok === "--source-port") {
        port("sourcePort", value());
        continue;
      }
      if (tok === "--dport" || tok === "--destination-port") {
        port("destinationPort", value());
        continue;
      }
    }
    // An option of another match (`-m limit --limit 5/sec`) joins that match's extra; a goto or
    // anything new is an extra of its own. Its value, if any, is the next words not starting with '-'.
    let extra = tok;
    while (i + 1 < t.length && !t[i + 1].startsWith("-") && t[i + 1] !== "!") extra += ` ${t[++i]}`;
    if (foreign >= 0 && tok.startsWith("--")) extras[foreign] += ` ${extra}`;
    else extras.push(extra);
  }
  if (helperTarget !== undefined) {
    const helper = helperOfKernelName(helperTarget, spec.protocol ?? "all");
    if (helper) spec.helper = helper;
    else extras.push(`-j CT --helper ${helperTarget}`);
  }
  if (!notrack && helperTarget === undefined && !extras.some((e) => e.startsWith("-j "))) extras.push("no -j CT --notrack target");
  return { spec: spec as RuleSpec, comments, notrack, extras };
}

/** Whether a saved line carries `tag` (or, with `adopt`, a comment starting with it) as one of its comments. */
export function iptablesLineHasTag(line: string, tag: string, adopt?: string): boolean {
  if (!line.includes(tag) && !(adopt && line.includes(adopt))) return false;
  return parseIptablesComments(line).some((c) => tagMatches(c, tag, adopt));
}

/** The `--comment` values of a saved line. */
export function parseIptablesComments(line: string): string[] {
  const t = tokenize(line);
  const out: string[] = [];
  for (let i = 0; i + 1 < t.length; i++) if (t[i] === "--comment") out.push(t[i + 1]);
  return out;
}

/** An `-A` line turned into the `-D` command that deletes exactly that rule. */
export function deleteCommandFor(line: string): string {
  if (!line.startsWith("-A ")) throw new TypeError(`not a saved rule line: ${line}`);
  return `-D ${line.slice(3)}`;
}

/** An `-A` line turned into `-I CHAIN N ...`. */
export function insertCommandFor(line: string, index: number): string {
  if (!line.startsWith("-A ")) throw new TypeError(`not a saved rule line: ${line}`);
  const rest = line.slice(3);
  const sp = rest.indexOf(" ");
  return `-I ${rest.slice(0, sp)} ${index} ${rest.slice(sp + 1)}`;
}
