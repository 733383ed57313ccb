import type { OperationResult, Step } from "./engine";

const SYMBOL: Record<Step["op"], string> = {
  create: "+ create ",
  same: "  same   ",
  update: "~ update ",
  replace: "+-replace",
  delete: "- delete ",
  refresh: "  read   ",
};

function typeName(t: string): string {
  return t.split(":").pop() ?? t;
}

/** One line per step, in the spirit of the CLI's output (unchanged resources left out). */
export function formatSteps(r: OperationResult, opts: { showSame?: boolean } = {}): string[] {
  const lines: string[] = [];
  for (const s of r.steps) {
    if (s.type === "pulumi:pulumi:Stack") continue;
    if (s.op === "refresh") {
      if (s.gone) lines.push(`  - gone     ${s.name} (${typeName(s.type)}): no longer on the host; dropped from state`);
      else if (s.drift) lines.push(`  ~ drift    ${s.name} (${typeName(s.type)}): ${s.diffs.join(", ")} differ from the state`);
      else if (opts.showSame) lines.push(`    in sync  ${s.name} (${typeName(s.type)})`);
      continue;
    }
    if (s.op === "same" && !opts.showSame) continue;
    const extra = s.replaces?.length
      ? ` [replace because of: ${s.replaces.join(", ")}]`
      : s.diffs.length
        ? ` [changed: ${s.diffs.join(", ")}]`
        : "";
    lines.push(`  ${SYMBOL[s.op]} ${s.name} (${typeName(s.type)})${extra}${s.error ? ` FAILED: ${s.error}` : ""}`);
  }
  return lines;
}

/** `Resources: 3 to create, 10 unchanged` (preview) or `3 created, 10 unchanged`. */
export function summarize(r: OperationResult): string {
  const counts = new Map<string, number>();
  const past: Record<string, string> = { create: "created", update: "updated", replace: "replaced", delete: "deleted", same: "unchanged" };
  for (const s of r.steps) {
    if (s.type === "pulumi:pulumi:Stack") continue;
    let key: string;
    if (s.op === "refresh") key = s.gone ? "gone" : s.drift ? "drifted" : "in sync";
    else if (r.kind === "preview" && s.op !== "same") key = `to ${s.op}`;
    else key = past[s.op] ?? s.op;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const parts = [...counts.entries()].map(([k, n]) => `${n} ${k}`);
  return `Resources: ${parts.join(", ") || "none"}`;
}

/** Warnings and errors from the program and the provider, as the CLI shows diagnostics. */
export function diagnostics(r: OperationResult): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const l of r.logs) {
    if (!/warning|error|stderr/.test(l.source)) continue;
    const text = `  ${l.source.replace(/^program /, "")}: ${l.line}`;
    if (!seen.has(text)) out.push(text);
    seen.add(text);
  }
  for (const e of r.errors) out.push(`  error: ${e}`);
  return out;
}
