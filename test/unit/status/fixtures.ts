/** Status script output and tool output captured from (or shaped like) real kernels. */

/** `conntrack -S` on Linux 6.x (conntrack-tools 1.4.7): clash_resolve and chaintoolong present. */
export const CT_S_NEW = `cpu=0   \tfound=12 invalid=301 insert=0 insert_failed=2 drop=5 early_drop=40 error=1 search_restart=7 clash_resolve=3 chaintoolong=0 
cpu=1   \tfound=8 invalid=99 insert=0 insert_failed=0 drop=1 early_drop=2 error=0 search_restart=1 clash_resolve=4 chaintoolong=1 
`;

/** `conntrack -S` on Linux 4.9 (conntrack-tools 1.4.4): searched/new/delete columns, no clash_resolve. */
export const CT_S_OLD = `cpu=0     \tsearched=2045 found=31225 new=3400 invalid=17 ignore=5 delete=3391 delete_list=3391 insert=3400 insert_failed=1 drop=0 early_drop=0 error=2 search_restart=0 
cpu=1     \tsearched=1800 found=20000 new=3000 invalid=3 ignore=0 delete=2990 delete_list=2990 insert=3000 insert_failed=0 drop=4 early_drop=6 error=0 search_restart=9 
`;

/** `/proc/net/stat/nf_conntrack` on Linux 4.19: `searched` and `delete_list` columns, icmp_error. */
export const PROCFS_OLD = `entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
000001a4  00000000 0000003c 00000000 00000005 0000012c 00000000 00000000 00000000 00000002 00000007 00000003 00000001  00000000 00000000 00000000 00000010
000001a4  00000000 00000004 00000000 0000000b 00000000 00000000 00000000 00000000 00000000 00000001 0000000a 00000000  00000000 00000000 00000000 00000001
`;

/** `/proc/net/stat/nf_conntrack` on Linux 6.x: `clashres` and `chainlength` replace the old columns. */
export const PROCFS_NEW = `entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000010  00000002 00000001 00000000 000000ff 00000000 00000000 00000001 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000000
00000010  00000001 00000001 00000000 00000001 00000000 00000000 00000000 00000000 00000003 00000000 00000000 00000000  00000000 00000000 00000000 00000000
`;

/** `iptables-save -c -t raw` lines (only `-A` lines reach the parser) with two of our rules and a foreign one. */
export const IPT_SAVE = `[1200:96000] -A PREROUTING -p udp -m udp --dport 53 -m comment --comment "pulumi-conntrack:dns-udp-in" -j CT --notrack
[5:300] -A OUTPUT -p udp -m udp --sport 53 -m comment --comment "pulumi-conntrack:dns-udp-out" -j CT --notrack
[77:4620] -A PREROUTING -p udp -m udp --dport 123 -j CT --notrack
[3:180] -A PREROUTING -p tcp -m tcp --dport 21 -j CT --helper ftp
rc=0`;

/** `nft -j list table inet pulumi_conntrack`: one rule with a counter, one without, and a ct helper object. */
export const NFT_JSON = JSON.stringify({
  nftables: [
    { metainfo: { version: "1.0.6", json_schema_version: 1 } },
    { table: { family: "inet", name: "pulumi_conntrack", handle: 1 } },
    { "ct helper": { family: "inet", name: "ftp-standard", table: "pulumi_conntrack", type: "ftp", protocol: "tcp", l3proto: "inet" } },
    {
      rule: {
        family: "inet",
        table: "pulumi_conntrack",
        chain: "prerouting",
        handle: 4,
        comment: "pulumi-conntrack:a",
        expr: [
          { match: { op: "==", left: { payload: { protocol: "udp", field: "dport" } }, right: 53 } },
          { counter: { packets: 10, bytes: 800 } },
          { notrack: null },
        ],
      },
    },
    {
      rule: {
        family: "inet",
        table: "pulumi_conntrack",
        chain: "output",
        handle: 5,
        comment: "pulumi-conntrack:b",
        expr: [{ notrack: null }],
      },
    },
  ],
});

/** A whole status script output from a 6.x host (lab-like) with conntrack -S working. */
export function statusOutput(parts: {
  table?: string;
  ctstats?: string;
  procfs?: string;
  ipt?: Record<string, string>;
  nft?: string;
  helpers?: string;
}): string {
  const out = [
    "@@ctk table",
    parts.table ?? "kernel=6.18.44\nuid=0\ncount=1500\nmax=2000\nbuckets=512\nconntrack_tool=/usr/sbin/conntrack\nprocfs=1",
  ];
  out.push("@@ctk ctstats", parts.ctstats ?? `${CT_S_NEW}rc=0`);
  out.push("@@ctk procfs", parts.procfs ?? PROCFS_NEW);
  out.push("@@ctk helpers", parts.helpers ?? "ftp=2\nsip=0");
  for (const [k, v] of Object.entries(parts.ipt ?? { "nft.4": IPT_SAVE, "nft.6": "rc=0" })) out.push(`@@ctk ipt.${k}`, v);
  out.push("@@ctk nft", parts.nft ?? "");
  return out.join("\n") + "\n";
}
