import { NFT_TABLE } from "../common/markers";
import { SECTION_MARKER, sectionStart } from "../transport/sections";

/** Helper modules (`nf_conntrack_<name>`) the status lists when loaded. */
export const HELPER_MODULES = ["ftp", "tftp", "sip", "irc", "h323", "pptp", "snmp", "netbios_ns", "amanda", "sane"] as const;

/**
 * The one remote script of `status`: everything a status row needs, read in one round trip and
 * framed in sections (`@@ctk name`). Only standard output is ever parsed; each tool's exit code is
 * printed in its own `rc` line so that "the tool failed" is never mistaken for "nothing to show".
 *
 * - `table`: kernel, count/max/buckets, whether the tools and the procfs file exist;
 * - `ctstats`: `conntrack -S` (per-CPU `key=value` lines), with `rc=`;
 * - `procfs`: `/proc/net/stat/nf_conntrack` (header + one hex line per CPU) when it exists;
 * - `helpers`: loaded helper modules (`/sys/module/nf_conntrack_<name>` and its refcnt);
 * - `ipt.<variant>.<family>`: `iptables-save -c -t raw` of each variant whose raw table exists
 *   (never makes the kernel create a table);
 * - `nft`: `nft -j list table inet pulumi_conntrack` (empty when absent), then `nft.rc` with the
 *   exit code of the listing (both only where nft can be used).
 */
export const STATUS_SCRIPT = `${sectionStart("table")}
echo "kernel=$(uname -r)"
echo "uid=$(id -u)"
p=/proc/sys/net/netfilter
[ -r $p/nf_conntrack_count ] && echo "count=$(cat $p/nf_conntrack_count)"
[ -r $p/nf_conntrack_max ] && echo "max=$(cat $p/nf_conntrack_max)"
if [ -r /sys/module/nf_conntrack/parameters/hashsize ]; then echo "buckets=$(cat /sys/module/nf_conntrack/parameters/hashsize)"
elif [ -r $p/nf_conntrack_buckets ]; then echo "buckets=$(cat $p/nf_conntrack_buckets)"; fi
command -v conntrack >/dev/null 2>&1 && echo "conntrack_tool=$(command -v conntrack)"
[ -e /proc/net/stat/nf_conntrack ] && echo procfs=1
${sectionStart("ctstats")}
if command -v conntrack >/dev/null 2>&1; then
  out=$(conntrack -S 2>/dev/null); rc=$?
  printf '%s\\n' "$out" | grep '^cpu='
  echo "rc=$rc"
fi
${sectionStart("procfs")}
[ -r /proc/net/stat/nf_conntrack ] && cat /proc/net/stat/nf_conntrack
${sectionStart("helpers")}
for n in ${HELPER_MODULES.join(" ")}; do
  d=/sys/module/nf_conntrack_$n
  [ -d "$d" ] || continue
  if [ -r "$d/refcnt" ]; then printf '%s=%s\\n' "$n" "$(cat "$d/refcnt")"; else printf '%s=builtin\\n' "$n"; fi
done
nft_ok() { [ ! -e /proc/modules ] || [ -d /sys/module/nf_tables ] || grep -qs '/nf_tables\\.ko' "/lib/modules/$(uname -r)/modules.builtin"; }
for v in nft legacy; do
  for f in 4 6; do
    if [ $f = 6 ]; then b=ip6tables; n=/proc/net/ip6_tables_names; else b=iptables; n=/proc/net/ip_tables_names; fi
    if [ $v = legacy ]; then grep -qx raw "$n" 2>/dev/null || continue; else nft_ok || continue; fi
    s="$b-$v-save"
    command -v "$s" >/dev/null 2>&1 || s="$b-save"
    command -v "$s" >/dev/null 2>&1 || continue
    # Without variant binaries the plain one is whichever variant it reports (before 1.8: legacy).
    if [ "$s" = "$b-save" ]; then
      case "$($b -V 2>/dev/null)" in *nf_tables*) k=nft ;; *) k=legacy ;; esac
      [ "$k" = "$v" ] || continue
    fi
    printf '%s\\n' "${SECTION_MARKER}ipt.$v.$f"
    out=$("$s" -c -t raw 2>/dev/null); rc=$?
    printf '%s\\n' "$out" | grep '^\\[[0-9]*:[0-9]*\\] -A '
    echo "rc=$rc"
  done
done
if command -v nft >/dev/null 2>&1 && nft_ok; then
  # Listed only when it exists (its absence is no failure); the exit code goes in its own section.
  t=$(nft list tables 2>/dev/null); rc=$?
  ${sectionStart("nft")}
  if [ $rc -eq 0 ] && printf '%s\n' "$t" | grep -qx 'table inet ${NFT_TABLE}'; then
    out=$(nft -j list table inet ${NFT_TABLE} 2>/dev/null); rc=$?
    printf '%s\n' "$out"
  fi
  ${sectionStart("nft.rc")}
  echo "rc=$rc"
fi
true`;
