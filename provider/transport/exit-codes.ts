/**
 * The exit codes of this package's remote scripts, in one table: every script exits with these and
 * every client decides by them (never by stderr), so one code has one meaning on every host and in
 * every kind. Codes not listed are the shell's own (2 for a shell error, 126/127 for a command that
 * cannot run, 128+N for a signal) and are reported as they are.
 *
 * Choosing a new code: take one that is free here and outside 0-2, 126-165 and 255, and add it to
 * this table (test/unit/transport/host-conventions.test.ts refuses two meanings sharing a code).
 */
export const EXIT = {
  /** The script did everything it was asked. */
  OK: 0,
  /** A step failed; stderr says which (`pulumi-conntrack: ...`). Nothing is assumed about what was changed beyond what the script documents. */
  FAILED: 1,
  /** `READ_FILE_SCRIPT`: the file does not exist (a value, not an error). */
  ABSENT: 3,
  /** NotrackRule apply: the tool refused the live batch (it is atomic: nothing was changed). */
  LIVE_FAILED: 10,
  /**
   * NotrackRule apply: the saved-ruleset file could not be prepared (read-only or full file system,
   * no such directory); it is checked before anything else changes, so nothing was changed.
   */
  FILE_PREP_FAILED: 11,
  /** Every apply: another change of this package held the host lock for the whole wait (see `host-lock.ts`); nothing was changed. */
  LOCK_TIMEOUT: 12,
  /** NotrackRule apply: the live batch was applied but the saved-ruleset file could not be replaced afterwards. */
  FILE_WRITE_FAILED: 13,
  /**
   * Atomic writes (`ctk_tmp_fill`, `ctk_write_file`) and the scripts that pass it on: standard input
   * ended before the whole content arrived (the client went away while sending it); nothing was written.
   */
  INPUT_INCOMPLETE: 14,
  /** NotrackRule / ConntrackHelperRule apply: a helper's kernel module could not be loaded (modprobe failed); nothing was changed. */
  MODULE_LOAD_FAILED: 15,
  /** NotrackRule apply: the host changed since it was observed; nothing was changed (observe again and re-plan). */
  CONFLICT: 75,
  /** The coalescing driver could not make its temporary directory: the group runs command by command instead. */
  DRIVER_SETUP_FAILED: 97,
  /** The coalescing driver's standard input did not arrive whole: it ran no command. */
  DRIVER_INPUT_INCOMPLETE: 98,
} as const;

/** The name of an exit code of {@link EXIT}. */
export type ExitName = keyof typeof EXIT;

/** The name of a code of {@link EXIT}, or undefined for a code this package does not use. */
export function exitName(code: number | null): ExitName | undefined {
  return (Object.keys(EXIT) as ExitName[]).find((k) => EXIT[k] === code);
}
