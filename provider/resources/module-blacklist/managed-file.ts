import { MANAGED_FILE_HEADER } from "../../common/markers";
import { canonicalModuleName, type BlacklistMode } from "./schema";

/** The command an `install` line runs instead of loading the module: it fails, so the load fails. */
export const DISABLE_COMMAND = "/bin/false";

/** A file that was at the managed path before this resource took it over; delete puts it back. */
export interface ReplacedFile {
  /** Its bytes, base64. */
  base64: string;
  /** Its permission bits, octal (`644`). */
  mode: string;
}

/** Largest foreign file taken over (it is kept in state and inside the managed file). */
export const MAX_REPLACED_BYTES = 64 * 1024;

const REPLACED_PREFIX = "# pulumi-conntrack replaced:";

/**
 * The managed file's content. The first line is {@link MANAGED_FILE_HEADER}, by which this package
 * and its other resources recognise it. A file it replaced is carried in a comment so that delete
 * can restore it even when the state that recorded it is lost (a create that failed after writing).
 */
export function renderManagedFile(modules: readonly string[], mode: BlacklistMode, replaced: ReplacedFile | null): string {
  const lines = [MANAGED_FILE_HEADER];
  if (mode === "disable") {
    lines.push(
      "# ModuleBlacklist, mode disable: `install <m> /bin/false` runs instead of loading <m>, whether it is",
      "# asked for by name, as a dependency or by the kernel; `blacklist <m>` also ignores its aliases.",
    );
  } else {
    lines.push(
      "# ModuleBlacklist, mode blacklist: `blacklist <m>` only ignores <m>'s aliases; `modprobe <m>`,",
      "# dependencies and kernel requests still load it.",
    );
  }
  lines.push("# Neither keeps out a module built into the kernel.");
  if (replaced) lines.push(`${REPLACED_PREFIX} mode=${replaced.mode} base64=${replaced.base64}`);
  for (const m of [...modules].sort()) {
    if (mode === "disable") lines.push(`install ${m} ${DISABLE_COMMAND}`);
    lines.push(`blacklist ${m}`);
  }
  return lines.join("\n") + "\n";
}

/** What a file at the managed path says. */
export interface ParsedManagedFile {
  /** The first line is {@link MANAGED_FILE_HEADER}. */
  managed: boolean;
  /** The file this one replaced, as recorded in it. */
  replaced: ReplacedFile | null;
  /** First `install` command per module (canonical name): modprobe uses the first it reads. */
  install: Map<string, string>;
  /** Modules with a `blacklist` line. */
  blacklist: Set<string>;
}

/** Reads the directives modprobe would take from one file (comments and blank lines skipped). */
export function parseManagedFile(content: string): ParsedManagedFile {
  const lines = content.split("\n");
  const install = new Map<string, string>();
  const blacklist = new Set<string>();
  let replaced: ReplacedFile | null = null;
  for (const line of joinContinuations(lines)) {
    const t = line.trim();
    if (t.startsWith(REPLACED_PREFIX)) {
      const m = /mode=([0-7]{3,4}) base64=([A-Za-z0-9+/=]*)$/.exec(t);
      if (m) replaced = { mode: m[1], base64: m[2] };
      continue;
    }
    if (t === "" || t.startsWith("#")) continue;
    const [directive, name, ...rest] = t.split(/\s+/);
    if (!name) continue;
    const mod = canonicalModuleName(name);
    if (directive === "install" && !install.has(mod)) install.set(mod, rest.join(" "));
    else if (directive === "blacklist") blacklist.add(mod);
  }
  return { managed: lines[0] === MANAGED_FILE_HEADER, replaced, install, blacklist };
}

/** modprobe.d joins a line ending in `\` with the next. */
function joinContinuations(lines: string[]): string[] {
  const out: string[] = [];
  let acc = "";
  for (const l of lines) {
    if (l.endsWith("\\")) {
      acc += l.slice(0, -1);
      continue;
    }
    out.push(acc + l);
    acc = "";
  }
  if (acc) out.push(acc);
  return out;
}

/** Whether the directives keep `module` out as `mode` promises. */
export function blocksModule(parsed: Pick<ParsedManagedFile, "install" | "blacklist">, module: string, mode: BlacklistMode): boolean {
  if (!parsed.blacklist.has(module)) return false;
  return mode === "blacklist" || parsed.install.get(module) === DISABLE_COMMAND;
}
