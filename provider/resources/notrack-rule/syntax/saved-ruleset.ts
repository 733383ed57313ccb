/**
 * iptables-save text, as `iptables-save -t raw` prints the live table and as the saved-rules files
 * that iptables-restore loads at boot hold it: the one walker over it, so that every reader agrees
 * on where a table starts and ends (a `COMMIT` with trailing blanks closes it too), which chain a
 * rule is in and at which position; and the one placement of a rule in it. Pure.
 */

/** What a line of iptables-save text is. */
export type SavedLineKind = "table" | "chain" | "rule" | "commit" | "comment" | "other";

/** One line of iptables-save text, classified. */
export interface SavedLine {
  /** The line exactly as written, without its newline. */
  text: string;
  kind: SavedLineKind;
  /**
   * The table the line is in (`raw`): from its `*raw` line to its `COMMIT` line, both included;
   * `""` outside any table.
   */
  table: string;
  /** A chain line: the chain declared. A rule: the chain it is appended to. */
  chain?: string;
  /** A chain line: its policy (`ACCEPT`; `-` for a user chain; `""` when none is written). */
  policy?: string;
  /** A rule: its 1-based position in its chain (what `iptables -I CHAIN N` takes). */
  index?: number;
}

/** iptables-save text read line by line. */
export interface SavedRuleset {
  lines: SavedLine[];
  /** Whether the text ends with a newline: written back, it ends (or does not) the same way. */
  trailingNewline: boolean;
}

/**
 * Reads iptables-save text. Nothing is dropped: comments and lines that are neither (a warning a
 * tool printed into the text) are kept as they are, so the lines join back into the same bytes.
 */
export function parseSavedRuleset(text: string): SavedRuleset {
  const trailingNewline = text.endsWith("\n");
  const raw = text === "" ? [] : text.split("\n");
  if (trailingNewline) raw.pop();
  const lines: SavedLine[] = [];
  const counts = new Map<string, number>();
  let table = "";
  for (const t of raw) {
    if (t.startsWith("*")) {
      table = t.slice(1).trim();
      lines.push({ text: t, kind: "table", table });
    } else if (t.trim() === "COMMIT") {
      lines.push({ text: t, kind: "commit", table });
      table = "";
    } else if (t.startsWith("#")) {
      lines.push({ text: t, kind: "comment", table });
    } else if (t.startsWith(":")) {
      const [chain, policy] = t.slice(1).split(/\s+/);
      lines.push({ text: t, kind: "chain", table, chain, policy: policy ?? "" });
    } else if (t.startsWith("-A ")) {
      const chain = t.split(" ")[1] ?? "";
      const key = `${table} ${chain}`;
      const index = (counts.get(key) ?? 0) + 1;
      counts.set(key, index);
      lines.push({ text: t, kind: "rule", table, chain, index });
    } else {
      lines.push({ text: t, kind: "other", table });
    }
  }
  return { lines, trailingNewline };
}

/** Lines back into text, ending with a newline or not. */
export function joinSavedLines(lines: readonly string[], trailingNewline: boolean): string {
  return lines.join("\n") + (trailingNewline ? "\n" : "");
}

/** The rules (`-A` lines) of one table, in order. */
export function tableRules(r: SavedRuleset, table: string): SavedLine[] {
  return r.lines.filter((l) => l.kind === "rule" && l.table === table);
}

/** A rule to put into the raw table: its chain and its `-A` line. */
export interface RawRuleLine {
  chain: string;
  line: string;
}

/** What {@link placeRawRule} made of a ruleset. */
export interface Placed {
  /** The lines, the taken-out rules gone and the new one in. */
  lines: string[];
  /** Whether any rule was taken out. */
  removed: boolean;
  /**
   * Whether the new rule is in. False when there is a rule to put in but no `*raw` table to put it
   * in: the caller appends the table in its own form.
   */
  placed: boolean;
}

/**
 * The lines with the `*raw` rules that `isOurs` picks taken out and `want` (if any) put where the
 * live change puts it: in place of the first rule taken out when that was in the same chain (an
 * in-place update, `-I CHAIN N`), else last in the first `*raw` table (`-A`). Only the order
 * within a chain matters to positions. Every other line stays as it is.
 */
export function placeRawRule(r: SavedRuleset, isOurs: (line: string) => boolean, want?: RawRuleLine): Placed {
  const out: string[] = [];
  let firstRemoved: { at: number; chain: string } | undefined;
  let rawCommit = -1;
  for (const l of r.lines) {
    if (l.kind === "commit" && l.table === "raw" && rawCommit < 0) rawCommit = out.length;
    else if (l.kind === "rule" && l.table === "raw" && isOurs(l.text)) {
      firstRemoved ??= { at: out.length, chain: l.chain ?? "" };
      continue;
    }
    out.push(l.text);
  }
  let placed = want === undefined;
  if (want && firstRemoved && firstRemoved.chain === want.chain) {
    out.splice(firstRemoved.at, 0, want.line);
    placed = true;
  } else if (want && rawCommit >= 0) {
    out.splice(rawCommit, 0, want.line);
    placed = true;
  }
  return { lines: out, removed: firstRemoved !== undefined, placed };
}
