import { createHash } from "node:crypto";
import type { Connection } from "../../connection/schema";
import { commandFailed, exec, script } from "../../transport/exec";
import type { Observation, SnapshotUse } from "../../transport/snapshot";
import { EXIT } from "../../transport/exit-codes";
import { FACTS_SCRIPT, parseFacts } from "../../transport/facts";
import { parseKeyValues, parseSections, sectionStart } from "../../transport/sections";
import { nftItems, nftObject } from "../../common/nft-json";
import { NFT_TABLE } from "../../common/markers";
import type { Family } from "./syntax/address";
import { CONNTRACK_CORE, CORE_INSTALL_ERE, parseCoreBlocks } from "../../transport/conntrack-core";
import { CONF_DIR_FUNCTIONS, confRowsMatching, ereRegExp, moduleAlternation, modprobeGrep } from "../../transport/conf-dirs";
import { parseSshConnection } from "./host/lockout";
import { PERSIST_FILES, type IptablesVariant, type Observed, type ObservedFile } from "./host/observed";
import { SHELL_FUNCTIONS, withoutSaveComments } from "./host/shell";
import { chainHash, nftTableHash } from "./host/hashes";
import { HELPER_BLOCK_ERE, HELPER_MODULES_SCRIPT, parseHelperModules } from "./host/helper-modules";
import { HELPER_MODULES } from "./syntax/helpers";

/**
 * The modprobe.d lines that can keep out the conntrack core ({@link CORE_INSTALL_ERE}) or a helper's
 * module ({@link HELPER_BLOCK_ERE}), read in one pass over the files: every line either ERE matches
 * matches this one, and the parser splits them back with the same two EREs.
 */
export const MODPROBE_BLOCK_ERE = `^[[:space:]]*(install|blacklist)[[:space:]]+(${moduleAlternation([...CONNTRACK_CORE, ...HELPER_MODULES])})([[:space:]]|$)`;
const CORE_INSTALL_RE = ereRegExp(CORE_INSTALL_ERE);
const HELPER_BLOCK_RE = ereRegExp(HELPER_BLOCK_ERE);

/**
 * The observe script. `$1` is the family (4 or 6), `$2` the iptables variant to read (empty: the
 * one the host's `iptables` command is). Values are positional parameters; the text is fixed.
 */
export const OBSERVE_SCRIPT = `${SHELL_FUNCTIONS}
${CONF_DIR_FUNCTIONS}
fam=$1
${sectionStart("facts")}
${FACTS_SCRIPT}
${sectionStart("session")}
# $SSH_CONNECTION of the login session; sudo drops it from the environment, so it is looked up in
# the processes above this one.
s=\${SSH_CONNECTION:-}
p=$$
n=0
while [ -z "$s" ] && [ "$n" -lt 10 ] && [ "\${p:-0}" -gt 1 ]; do
  p=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$p/status" 2>/dev/null)
  [ "\${p:-0}" -gt 1 ] || break
  s=$( { tr '\\000' '\\n' < "/proc/$p/environ"; } 2>/dev/null | sed -n 's/^SSH_CONNECTION=//p')
  n=$((n + 1))
done
printf '%s\\n' "$s"
${sectionStart("modprobe")}
${modprobeGrep(MODPROBE_BLOCK_ERE)}
${sectionStart("cmdline")}
# One line; the shell's read, no process (/proc/cmdline reads right at any offset, unlike sysctls).
cl=; IFS= read -r cl 2>/dev/null < /proc/cmdline || :
printf '%s\\n' "$cl"
${sectionStart("helper-modules")}
${HELPER_MODULES_SCRIPT}
${sectionStart("iptables")}
if [ "$fam" = 6 ]; then b=ip6tables; else b=iptables; fi
cur=
if command -v "$b" >/dev/null 2>&1; then
  echo present=1
  # The first line, cut by the shell ($ctk_nl: FACTS_SCRIPT): no head process.
  v=$("$b" -V 2>/dev/null); v=\${v%%"$ctk_nl"*}
  echo "version=$v"
  case "$v" in *nf_tables*) cur=nft ;; *) cur=legacy ;; esac
  echo "current=$cur"
fi
variant=\${2:-$cur}
[ -n "$variant" ] || variant=nft
echo "variant=$variant"
lt=
for f in /proc/net/ip_tables_names /proc/net/ip6_tables_names; do
  [ -r "$f" ] || continue
  while IFS= read -r l; do lt="$lt$l "; done < "$f"
done
echo "legacy_tables=$lt"
if save=$(ctk_ipt_raw_save "$variant" "$fam" 2>/dev/null); then
  echo save_ok=1
else
  echo save_ok=0
  # The message alone (stderr of a second read), never mixed into the rules.
  echo "save_error=$(ctk_ipt_raw_save "$variant" "$fam" 2>&1 >/dev/null | tr '\\n' ' ')"
  save=
fi
# The chain hashes the apply compares; printable ASCII is hashed by the provider (chainHash).
if ! ctk_ascii "$save"; then
  for c in PREROUTING OUTPUT; do echo "hash.$c=$(printf '%s\\n' "$save" | ctk_chain_hash "$c")"; done
fi
${sectionStart("ipt-save")}
printf '%s\\n' "$save"
${sectionStart("nft")}
tj=
if command -v nft >/dev/null 2>&1; then
  echo present=1
  if ctk_nft_ok; then
    # One listing: the JSON one names the tables too (parseNftTables); the text one only where
    # this nft has no JSON.
    if tj=$(nft -j list tables 2>/dev/null) && case "$tj" in '{"nftables"'*) true ;; *) false ;; esac; then
      echo json=1
    else
      tj=
      echo json=0
      echo "tables=$(nft list tables 2>/dev/null | sed -n 's/^table //p' | tr '\\n' ',')"
    fi
  fi
fi
# Not asked for where the JSON listing of tables does not name it (a table's name is printed as
# written, between quotes): one nft fewer where the table is not there yet, or never is (rules in
# iptables). Absent or not asked for, the listing is empty, as the apply's ctk_nft_table prints it.
case "$tj" in *'"${NFT_TABLE}"'*) nt=$(ctk_nft_table) ;; '{"nftables"'*) nt= ;; *) nt=$(ctk_nft_table) ;; esac
# Listed once: the hash is of the same bytes the apply script hashes (ctk_out_sum ctk_nft_table).
# $(...) drops the listing's final newline, and printf puts it back (not ASCII, so not empty).
# Printable ASCII is hashed by the provider (nftTableHash).
if ! ctk_ascii "$nt"; then ctk_out_sum printf '%s\\n' "$nt"; echo "hash=$_ctks"; fi
${sectionStart("nft-tables")}
if [ -n "$tj" ]; then printf '%s\\n' "$tj"; fi
${sectionStart("nft-table")}
if [ -n "$nt" ]; then printf '%s\\n' "$nt"; fi
${sectionStart("persist")}
[ -d /etc/iptables ] && echo etc_iptables=1
[ -d /etc/sysconfig ] && echo sysconfig=1
[ -e /usr/libexec/iptables/iptables.init ] && echo iptables_services=1
${sectionStart("units")}
if command -v systemctl >/dev/null 2>&1; then
  if [ "$fam" = 6 ]; then u=ip6tables.service; else u=iptables.service; fi
  # One systemctl for the three units (is-enabled with several stops at the first without a file),
  # read by the provider (parseUnitStates).
  systemctl list-unit-files --no-legend nftables.service netfilter-persistent.service "$u" 2>/dev/null
fi
${sectionStart("files")}
if [ "$fam" = 6 ]; then files="${PERSIST_FILES.ipv6.join(" ")}"; else files="${PERSIST_FILES.ipv4.join(" ")}"; fi
for f in $files; do
  [ -f "$f" ] || continue
  printf 'file=%s\\n' "$f"
  # One line: -w 0 where base64 has it (GNU), else its lines joined by tr (a program more).
  if b=$(base64 -w 0 < "$f" 2>/dev/null); then printf 'b64=%s\\n' "$b"; else printf 'b64='; base64 < "$f" | tr -d '\\n'; echo; fi
done
exit 0`;

/** sha256 hex of bytes (a string counts as latin1 bytes, as file contents are kept), as `sha256sum` prints it. */
export function sha256(data: string | Buffer): string {
  return createHash("sha256")
    .update(typeof data === "string" ? Buffer.from(data, "latin1") : data)
    .digest("hex");
}

/**
 * The tables of `nft -j list tables` as the text listing names them (`inet pulumi_conntrack`), in
 * its order; none for empty or unreadable output. Pure.
 */
export function parseNftTables(json: string): string[] {
  try {
    return nftItems(json).flatMap((i) => {
      const t = nftObject(i, "table");
      return typeof t?.family === "string" && typeof t.name === "string" ? [`${t.family} ${t.name}`] : [];
    });
  } catch {
    return [];
  }
}

/**
 * The STATE column (is-enabled's answer) of `systemctl list-unit-files --no-legend` by unit, as awk
 * splits its columns; a unit without a file is not listed. Pure.
 */
export function parseUnitStates(listing: string): Map<string, string> {
  const states = new Map<string, string>();
  for (const line of listing.split("\n")) {
    const [unit, state] = line.trim().split(/[ \t]+/);
    if (unit && state) states.set(unit, state);
  }
  return states;
}

/** Parses the observe script's output. Pure, so it is tested without a host. */
export function parseObserved(stdout: string, family: Family): Observed {
  const s = parseSections(stdout);
  const ipt = parseKeyValues(s.get("iptables") ?? "");
  const nft = parseKeyValues(s.get("nft") ?? "");
  const persist = parseKeyValues(s.get("persist") ?? "");
  const units = parseUnitStates(s.get("units") ?? "");
  const iptUnit = family === "ipv6" ? "ip6tables.service" : "iptables.service";
  const files: Record<string, ObservedFile> = {};
  let current: string | undefined;
  for (const line of (s.get("files") ?? "").split("\n")) {
    if (line.startsWith("file=")) current = line.slice(5);
    else if (line.startsWith("b64=") && current) {
      const buf = Buffer.from(line.slice(4), "base64");
      // latin1 maps each byte to one character and back: a file in any encoding is written back
      // byte for byte (the text this package adds is ASCII).
      files[current] = { content: buf.toString("latin1"), sha256: sha256(buf) };
      current = undefined;
    }
  }
  // One pass over modprobe.d for both kinds of block (MODPROBE_BLOCK_ERE), split back here.
  const modprobe = s.get("modprobe") ?? "";
  const variant = ipt.get("variant") === "legacy" ? "legacy" : "nft";
  const save = withoutSaveComments(s.get("ipt-save") ?? "");
  const listing = s.get("nft-table") ?? "";
  const cur = ipt.get("current");
  return {
    family,
    facts: parseFacts(s.get("facts") ?? ""),
    session: parseSshConnection(s.get("session") ?? ""),
    modprobeRows: modprobe,
    conntrackBlocks: parseCoreBlocks(confRowsMatching(modprobe, CORE_INSTALL_RE), s.get("cmdline") ?? ""),
    helperModules: parseHelperModules(s.get("helper-modules") ?? "", confRowsMatching(modprobe, HELPER_BLOCK_RE), s.get("cmdline") ?? ""),
    iptables: {
      present: ipt.get("present") === "1",
      version: ipt.get("version") || undefined,
      current: cur === "legacy" || cur === "nft" ? cur : undefined,
      variant,
      save,
      chainHashes: {
        PREROUTING: ipt.get("hash.PREROUTING") ?? chainHash(save, "PREROUTING"),
        OUTPUT: ipt.get("hash.OUTPUT") ?? chainHash(save, "OUTPUT"),
      },
      ...(ipt.get("save_ok") === "0" ? { saveError: (ipt.get("save_error") ?? "").trim() || "unknown error" } : {}),
    },
    legacyTables: (ipt.get("legacy_tables") ?? "").split(/\s+/).filter(Boolean),
    nft: {
      present: nft.get("present") === "1",
      tables: nft.has("tables")
        ? (nft.get("tables") ?? "")
            .split(",")
            .map((t) => t.trim())
            .filter(Boolean)
        : parseNftTables(s.get("nft-tables") ?? ""),
      tableJson: listing.trim(),
      tableHash: nft.get("hash") ?? nftTableHash(listing),
      ...(nft.has("json") ? { json: nft.get("json") === "1" } : {}),
    },
    persist: {
      etcIptablesDir: persist.get("etc_iptables") === "1",
      sysconfigDir: persist.get("sysconfig") === "1",
      iptablesServices: persist.get("iptables_services") === "1",
      nftService: units.get("nftables.service") || undefined,
      ...(units.get("netfilter-persistent.service") ? { netfilterPersistentService: units.get("netfilter-persistent.service") } : {}),
      ...(units.get(iptUnit) ? { iptablesService: units.get(iptUnit) } : {}),
      files,
    },
  };
}

/** The command {@link observe} runs: what a change may ask to run after it (`ExecOptions.then`). */
export function observeCommand(family: Family, variant?: IptablesVariant): Observation {
  return {
    argv: script(OBSERVE_SCRIPT, [family === "ipv6" ? "6" : "4", variant ?? ""]),
    label: "observe NOTRACK rules (facts, raw table, nft table, saved rulesets)",
  };
}

/**
 * Reads facts, the live rules (one iptables variant's raw table and this package's nft table) and
 * the saved rulesets in one round trip. Changes nothing on the host.
 */
export async function observe(
  conn: Connection,
  family: Family,
  variant?: IptablesVariant,
  opts: { shared?: SnapshotUse; since?: number } = {},
): Promise<Observed> {
  const { argv, label } = observeCommand(family, variant);
  const r = await exec(conn, argv, { label, observation: opts.shared ?? "fresh", since: opts.since });
  if (r.exitCode !== EXIT.OK) throw commandFailed(conn, argv, r, { label });
  return parseObserved(r.stdout, family);
}
