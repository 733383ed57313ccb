/**
 * Framing for scripts that read several things in one round trip: each part starts with a line
 * `@@ctk <name>` and runs until the next marker. One SSH command per resource operation instead of
 * one per file keeps a fleet rollout near the raw SSH floor.
 */

/** The marker line a script prints before a section (`printf '%s\n' "@@ctk name"`). */
export const SECTION_MARKER = "@@ctk ";

/** Shell text that prints the marker for `name` (a fixed identifier, never user input). */
export function sectionStart(name: string): string {
  if (!/^[a-z0-9_.-]+$/i.test(name)) throw new TypeError(`bad section name ${name}`);
  return `printf '%s\\n' '${SECTION_MARKER}${name}'`;
}

/** Splits script output into its sections; text before the first marker is dropped. */
export function parseSections(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  let current: string | undefined;
  let buf: string[] = [];
  const flush = () => {
    if (current !== undefined) out.set(current, buf.join("\n"));
  };
  for (const line of stdout.split("\n")) {
    if (line.startsWith(SECTION_MARKER)) {
      flush();
      current = line.slice(SECTION_MARKER.length).trim();
      buf = [];
    } else if (current !== undefined) {
      buf.push(line);
    }
  }
  flush();
  // The last line break belongs to the framing, not to the content.
  for (const [k, v] of out) out.set(k, v.endsWith("\n") ? v.slice(0, -1) : v);
  return out;
}

/** `key=value` lines into a map (later keys win); lines without `=` are ignored. */
export function parseKeyValues(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) m.set(line.slice(0, i), line.slice(i + 1));
  }
  return m;
}
