/**
 * The one shell idiom for the sha256 of what a command prints, where an apply script compares a
 * digest it was given with what it finds under the host lock.
 */

/** sha256 (hex) of no bytes: what `sha256sum` prints for empty input. */
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/**
 * Shell function `ctk_out_sum CMD...`: sets `$_ctks` to the sha256 (hex) of CMD's standard output,
 * byte for byte (a final line break included), whatever CMD exits with, as `CMD | sha256sum` would
 * print it. An empty output takes no `sha256sum`: most of what an apply compares is empty (no
 * modprobe.d line that keeps conntrack out, no table before the first rule), and on a fleet each
 * program is a fork and an exec on every host. Output with a NUL byte (which a shell variable cannot
 * hold) never matches a digest of it: the apply refuses, as for any change.
 */
export const OUT_SUM_FUNCTION = `ctk_out_sum() {
  # The x keeps the output's final line breaks, which $(...) would drop.
  _ctks=$("$@"; echo x); _ctks=\${_ctks%x}
  if [ -z "$_ctks" ]; then _ctks=${EMPTY_SHA256}; return 0; fi
  _ctks=$(printf '%s' "$_ctks" | sha256sum); _ctks=\${_ctks%% *}
}`;
