import {
  parseRecordState,
  PREVIOUS_RECORD_VERSION,
  previousObserveSh,
  previousRecordPath,
  type RecordState,
} from "../../common/previous-record";
import { HEX_FUNCTION, type ObservedFile } from "../../transport/observed-file";
import { FILE_ROLES, isManagedContent, MANAGED_PATHS, type FileRole } from "./managed-files";

/**
 * The host-side record of what a host had before a `ConntrackTableSize` first changed it: the three
 * managed files and the live values (`nf_conntrack_max`, the hash size, every timeout), written by
 * the create's apply script under the host lock before its first change (see
 * `common/previous-record.ts` for where it lives and its life cycle). A create whose response was
 * lost after it changed the host is retried by the next `pulumi up`; that retry reads the record
 * instead of taking the first attempt's values for the host's, so that delete puts back the host as
 * it was (issue 11).
 *
 * @packageDocumentation
 */

/** The record's path: one per host, as the table is. */
export const TABLE_RECORD_PATH = previousRecordPath(MANAGED_PATHS.modprobe.slice(MANAGED_PATHS.modprobe.lastIndexOf("/") + 1));

/** What a record of this kind holds. */
export interface TableRecord {
  /** Each managed file's content before the first change (null: there was none). */
  files: Record<FileRole, string | null>;
  /** `nf_conntrack_max` (null: not readable then). */
  max: number | null;
  /** The hash size (sysfs, else the buckets sysctl; null: not readable then). */
  buckets: number | null;
  /** Every timeout sysctl by name. */
  timeouts: Record<string, number>;
}

/** What observe finds at the record's path. */
export type TablePreviousRecord = RecordState<TableRecord>;

const TIMEOUT_KEY = "nf_conntrack_[a-z0-9_]*timeout[a-z0-9_]*";

/** The `previous` section of the observe script (`$r`: the record's path, empty for none). */
export const TABLE_PREVIOUS_OBSERVE_SH = previousObserveSh(`version|${FILE_ROLES.join("|")}|max|buckets|${TIMEOUT_KEY}`);

/**
 * Shell functions for the apply script (`$s1`..`$s3`: the managed paths): `ctk_previous_text`
 * prints the record of what the host has now (each file hex-encoded, `-` for none; the live values),
 * or fails when a managed path is not a regular file or cannot be read.
 */
export function previousTextFunctions(netfilterProc: string, hashsizePath: string): string {
  return `${HEX_FUNCTION}
ctk_previous_file() {
  if [ -L "$2" ]; then return 1
  elif [ -f "$2" ]; then
    _ctkh=$(od -An -v -tx1 < "$2") || return 1
    ctk_hex "$1" $_ctkh
  elif [ -e "$2" ]; then return 1
  else echo "$1=-"; fi
}
ctk_previous_text() {
  echo version=${PREVIOUS_RECORD_VERSION}
  ctk_previous_file ${FILE_ROLES[0]} "$s1" && ctk_previous_file ${FILE_ROLES[1]} "$s2" && ctk_previous_file ${FILE_ROLES[2]} "$s3" || return 1
  if [ -r ${netfilterProc}/nf_conntrack_max ]; then echo "max=$(cat ${netfilterProc}/nf_conntrack_max)"; fi
  if [ -r ${hashsizePath} ]; then echo "buckets=$(cat ${hashsizePath})"
  elif [ -r ${netfilterProc}/nf_conntrack_buckets ]; then echo "buckets=$(cat ${netfilterProc}/nf_conntrack_buckets)"; fi
  for _ctkf in ${netfilterProc}/nf_conntrack_*timeout*; do
    if [ -f "$_ctkf" ]; then printf '%s=%s\\n' "\${_ctkf##*/}" "$(cat -- "$_ctkf")"; fi
  done
  return 0
}`;
}

const count = (v: string | undefined): number | null => (v !== undefined && /^\d+$/.test(v) ? Number(v) : null);

/** Parses the `previous` section's key/values. */
export function parseTableRecord(kv: Map<string, string>): TablePreviousRecord {
  return parseRecordState<TableRecord>(kv, (kv) => {
    const files = {} as Record<FileRole, string | null>;
    for (const role of FILE_ROLES) {
      const v = kv.get(role);
      if (v === undefined || (v !== "-" && !/^([0-9a-f]{2})*$/.test(v))) return `it does not say what ${MANAGED_PATHS[role]} was`;
      files[role] = v === "-" ? null : Buffer.from(v, "hex").toString("utf8");
    }
    const timeouts: Record<string, number> = {};
    for (const [k, v] of kv) if (new RegExp(`^${TIMEOUT_KEY}$`).test(k) && count(v) !== null) timeouts[k] = Number(v);
    return { files, max: count(kv.get("max")), buckets: count(kv.get("buckets")), timeouts };
  });
}

/**
 * Whether a record still describes the host before this package's first change: yes while each
 * managed path is absent, a file this package wrote (its header), or still the recorded content.
 * A file without the header that differs from the recorded one was put there by someone since: the
 * record is stale, and the host as it is now is what "previous" is.
 */
export function tableRecordDescribes(record: TableRecord, files: Record<FileRole, ObservedFile>): boolean {
  return FILE_ROLES.every((role) => {
    const f = files[role];
    if (f.kind === "absent") return true;
    if (f.kind !== "file") return false;
    return isManagedContent(f.content) || record.files[role] === f.content;
  });
}
