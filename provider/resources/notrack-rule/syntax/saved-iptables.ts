/**
 * Editing a saved iptables ruleset (`/etc/iptables/rules.v4`, `/etc/sysconfig/iptables`, ...):
 * only lines carrying one resource's tag in the `*raw` table are added or removed; every other
 * byte of the file stays as it was. Saving the live ruleset instead would also save other tools'
 * rules (Docker, kube-proxy), which must come from those tools at boot, not from us.
 */
import { iptablesLineHasTag } from "./iptables-rule";
import { joinSavedLines, parseSavedRuleset, placeRawRule, tableRules, type RawRuleLine } from "./saved-ruleset";

/** First line of a saved-rules file this package creates (it never creates one otherwise). */
export const IPTABLES_FILE_HEADER = "# Written by pulumi-conntrack: the NOTRACK rules it manages. Other tools' rules are not saved here.";

/** The saved lines in `*raw` that carry `tag`. */
export function taggedSavedLines(content: string | undefined, tag: string): string[] {
  if (content === undefined) return [];
  return tableRules(parseSavedRuleset(content), "raw")
    .filter((l) => iptablesLineHasTag(l.text, tag))
    .map((l) => l.text);
}

/**
 * The file with `tag`'s lines in `*raw` replaced by `want` (or removed when `want` is undefined).
 * A replaced rule keeps its place when its chain is unchanged; a new one goes last in `*raw`, as
 * `-A` puts it last in the live chain. A missing `*raw` table is appended, and a missing file is
 * created only when there is a rule to save. When the last rule goes, an empty `*raw` table in
 * exactly the form this package adds it is removed again, and a file this package created is
 * removed (`null`). Nothing else changes, byte for byte.
 */
export function editSavedRules(
  content: string | undefined,
  tag: string,
  want: RawRuleLine | undefined,
  adopt?: string,
): string | undefined | null {
  if (content === undefined) {
    if (!want) return undefined;
    return [IPTABLES_FILE_HEADER, ...rawSection(want.line)].join("\n") + "\n";
  }
  const saved = parseSavedRuleset(content);
  const { trailingNewline } = saved;
  const { lines: out, removed, placed } = placeRawRule(saved, (line) => iptablesLineHasTag(line, tag, adopt), want);
  if (want && !placed) {
    // iptables-restore (legacy) needs a newline after COMMIT, so the file ends with one now; the
    // marker says it did not before, so that removing the table gives back the same bytes.
    if (!trailingNewline && out.length > 0) out.push(NO_FINAL_NEWLINE_MARKER);
    out.push(...rawSection(want.line));
  }
  let finalNewline = trailingNewline || !placed;
  if (!want && removed) {
    // The `*raw` table this package added, now empty, goes too: the file is again what it was.
    let start = findSection(out, EMPTY_RAW_SECTION);
    if (start >= 0) {
      out.splice(start, EMPTY_RAW_SECTION.length);
      if (start > 0 && out[start - 1] === NO_FINAL_NEWLINE_MARKER) {
        out.splice(--start, 1);
        if (start === out.length) finalNewline = false;
      }
    }
    if (out.length === 1 && out[0] === IPTABLES_FILE_HEADER) return null;
  }
  return joinSavedLines(out, finalNewline);
}

/** Put before a `*raw` table appended to a file that had no final newline (see {@link editSavedRules}). */
export const NO_FINAL_NEWLINE_MARKER = "# pulumi-conntrack: *raw table added below; the line above ended the file without a newline";

/** A `*raw` table exactly as this package adds it, without rules. */
const EMPTY_RAW_SECTION = ["*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", "COMMIT"];

function findSection(lines: string[], section: string[]): number {
  for (let i = lines.length - section.length; i >= 0; i--) if (section.every((l, j) => lines[i + j] === l)) return i;
  return -1;
}

function rawSection(line: string): string[] {
  return ["*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", line, "COMMIT"];
}
