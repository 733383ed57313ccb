/**
 * POSIX shell quoting. SSH hands the remote side one command string that the login shell parses, so
 * every argument is single-quoted here; nothing a user typed ever reaches a shell unquoted.
 */

/** Quotes one argument for a POSIX shell, byte for byte (newlines, quotes and `$` included). */
export function shQuote(arg: string): string {
  if (arg.includes("\0")) throw new TypeError("a shell argument cannot contain a NUL byte");
  if (arg !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Quotes and joins an argument vector into one command line. */
export function shJoin(argv: readonly string[]): string {
  if (argv.length === 0) throw new TypeError("empty command");
  return argv.map(shQuote).join(" ");
}
