import { parseRecordState, PREVIOUS_RECORD_VERSION, previousObserveSh, type RecordState } from "../../common/previous-record";
import { HEX_FUNCTION, parseObservedFile, type ObservedFile } from "../../transport/observed-file";
import { isManagedContent, type ToggleValue } from "./managed-file";

/**
 * The host-side record of what a host had before a `ConntrackHelperSetting` first changed it (the
 * managed file, the live value, the module parameter); where it lives and its life cycle are
 * `common/previous-record.ts`'s. It lives next to the file it describes,
 * `/etc/modprobe.d/.<fileName>.pulumi-conntrack-previous`.
 *
 * A record outlives the state only when a resource leaves the state without a destroy (`pulumi
 * state delete`, a lost stack). The next create of that file then uses it while the managed path is
 * still what this package left (its own file, or none) or the recorded file itself, so that its
 * destroy puts back the host as it was before pulumi-conntrack, not this package's leftovers; once
 * someone has put another file there by hand the record is stale: ignored with a warning, and
 * replaced. Times are not compared: the package's own writes are always newer than the record.
 *
 * @packageDocumentation
 */

/** What a record of this kind holds: the managed file, the live value, the module parameter. */
export interface HelperRecord {
  file: Extract<ObservedFile, { kind: "absent" } | { kind: "file" }>;
  live: ToggleValue | null;
  moduleParameter: "Y" | "N" | null;
}

/** What observe finds at the record's path. */
export type PreviousRecord = RecordState<HelperRecord>;

/**
 * Shell text (part of the observe script; `$r` is the record's path, empty for none) that prints
 * the `previous` section: `state=absent|present|symlink|other|unreadable`, then the record's lines.
 */
export const PREVIOUS_OBSERVE_SH = previousObserveSh("version|kind|mode|hex|live|param");

/**
 * Shell function `ctk_previous_text` (for the apply script; `$m` the managed path): prints the
 * record of what the host has now, the managed file hex-encoded (any bytes survive), or fails when
 * the managed path is not a regular file or cannot be read.
 */
export function previousTextFunction(sysctlPath: string, paramPath: string): string {
  return `${HEX_FUNCTION}
ctk_previous_text() {
  echo version=${PREVIOUS_RECORD_VERSION}
  if [ -L "$m" ]; then return 1
  elif [ -f "$m" ]; then
    _ctkh=$(od -An -v -tx1 < "$m") || return 1
    _ctkm=$(stat -c %a -- "$m") || return 1
    echo kind=file
    ctk_hex hex $_ctkh
    echo "mode=$_ctkm"
  elif [ -e "$m" ]; then return 1
  else echo kind=absent; fi
  if [ -r ${sysctlPath} ]; then echo "live=$(cat ${sysctlPath})"; fi
  if [ -r ${paramPath} ]; then echo "param=$(cat ${paramPath})"; fi
}`;
}

/** Parses the `previous` section's key/values. */
export function parsePreviousRecord(kv: Map<string, string>): PreviousRecord {
  return parseRecordState<HelperRecord>(kv, (kv) => {
    const fileKind = kv.get("kind");
    const hex = kv.get("hex") ?? "";
    if (fileKind !== "absent" && !(fileKind === "file" && /^([0-9a-f]{2})*$/.test(hex))) return "it does not say what the managed file was";
    const file = parseObservedFile(kv) as HelperRecord["file"];
    const live = kv.get("live");
    const param = kv.get("param");
    return {
      file,
      live: live === "0" ? 0 : live === "1" ? 1 : null,
      moduleParameter: param === "Y" || param === "1" ? "Y" : param === "N" || param === "0" ? "N" : null,
    };
  });
}

/**
 * Whether a record still describes the host before this package's first change of the managed
 * file `current`: yes while `current` is absent, is a file this package wrote (its header), or is
 * still byte for byte the recorded one (the first change had not happened). A file without the
 * header that differs from the recorded one was put there by someone since (after a
 * `pulumi state delete`, say): the record is stale, and the host as it is now is what "previous" is.
 */
export function recordDescribes(record: Extract<PreviousRecord, { kind: "record" }>, current: ObservedFile): boolean {
  if (current.kind === "absent") return true;
  if (current.kind !== "file") return false;
  if (isManagedContent(current.content)) return true;
  return record.file.kind === "file" && record.file.content === current.content;
}
