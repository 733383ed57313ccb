/**
 * A managed file as a one-round-trip observe script reports it (`kind=`, `mode=`, `hex=` lines of
 * its section), shared by the kinds that own one whole file (ConntrackHelperSetting,
 * ConntrackTableSize): one reader, so that both tell a symlink or an unreadable file apart the same
 * way and never write through either.
 */

/**
 * Shell function `ctk_hex KEY WORD...`: prints `KEY=`, the words joined, and a line break. Called as
 * `ctk_hex hex $h` with `$h` an `od -An -v -tx1` dump left unquoted: the shell's own field splitting
 * drops od's spaces and line breaks (the dump holds hex digits only, so nothing in it globs). All
 * builtins: the `printf | tr -d` it replaces was a subshell, a pipeline and a program per file, and
 * on the small VMs measured here process starts are most of what an observe script costs.
 */
export const HEX_FUNCTION = `ctk_hex() {
  printf '%s=' "$1"; shift; printf '%s' "$@"; echo
}`;

/** The file as found at its path. */
export type ObservedFile =
  | { kind: "absent" }
  /** `mode`: octal permission bits, as `stat -c %a` prints them (absent when stat could not tell). */
  | { kind: "file"; content: string; mode?: string }
  /** A symlink, directory or device: never written through or replaced. */
  | { kind: "other"; what: "symlink" | "not a regular file" }
  | { kind: "unreadable" };

/** Reads a file section's key/values (`kind`, `mode`, `hex`) into an {@link ObservedFile}. */
export function parseObservedFile(kv: Map<string, string>): ObservedFile {
  switch (kv.get("kind")) {
    case "absent":
      return { kind: "absent" };
    case "file": {
      const mode = kv.get("mode");
      const content = Buffer.from(kv.get("hex") ?? "", "hex").toString("utf8");
      return mode && /^[0-7]{3,4}$/.test(mode) ? { kind: "file", content, mode } : { kind: "file", content };
    }
    case "symlink":
      return { kind: "other", what: "symlink" };
    case "other":
      return { kind: "other", what: "not a regular file" };
    default:
      return { kind: "unreadable" };
  }
}
