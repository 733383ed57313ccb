/**
 * The hashes an apply compares (provider/resources/notrack-rule/host/hashes.ts): for plain text the
 * provider computes them from the observed text, so they must be byte for byte what the host's own
 * functions print, here run by this machine's /bin/sh; the observe script leaves the hashing to the
 * provider only for text `ctk_ascii` calls plain.
 */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { SHELL_FUNCTIONS } from "../../../provider/resources/notrack-rule/host/shell";
import { chainHash, nftTableHash } from "../../../provider/resources/notrack-rule/host/hashes";
import { parseNftTables } from "../../../provider/resources/notrack-rule/observe";

function sh(body: string, args: string[]): string {
  return execFileSync("/bin/sh", ["-c", `${SHELL_FUNCTIONS}\n${body}`, "sh", ...args], { encoding: "utf8" }).trim();
}

const SAVES = [
  "",
  "*raw",
  [
    "*raw",
    ":PREROUTING ACCEPT [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    '-A PREROUTING -p udp -m udp --dport 53 -m comment --comment "pulumi-conntrack:a b" -j NOTRACK',
    "-A OUTPUT -p udp -m udp --sport 53 -j CT --notrack",
    "-A PREROUTINGX -j ACCEPT",
    " -A PREROUTING -j ACCEPT",
    "-A PREROUTING -p tcp -m tcp --dport 21 -j CT --helper ftp",
    "COMMIT",
  ].join("\n"),
  "-A PREROUTING -m comment --comment \"tab\there and a \\\\ backslash and 'quotes'\" -j NOTRACK",
];

describe("the hashes an apply compares", () => {
  it("are, for each chain, what `printf '%s\\n' \"$save\" | ctk_chain_hash CHAIN` prints on the host", () => {
    for (const save of SAVES)
      for (const chain of ["PREROUTING", "OUTPUT"])
        expect(chainHash(save, chain), `${chain} of ${JSON.stringify(save)}`).toBe(
          sh('printf \'%s\\n\' "$1" | ctk_chain_hash "$2"', [save, chain]),
        );
  });

  it("are, for the nft table, what the apply's `ctk_out_sum ctk_nft_table` gives for the same listing", () => {
    // The observe script reads the listing with $(...) (its final newline dropped); nft prints it with one.
    for (const listing of [
      "",
      '{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"table": {"family": "inet", "name": "pulumi_conntrack"}}]}',
    ])
      expect(nftTableHash(listing)).toBe(
        // nft stands in for itself: the listing with its final newline, nothing for an absent table.
        sh('L=$1; ctk_nft_table() { if [ -n "$L" ]; then printf \'%s\\n\' "$L"; fi; }; ctk_out_sum ctk_nft_table; echo "$_ctks"', [
          listing,
        ]),
      );
  });

  it("are left to the provider only for printable ASCII, tabs and newlines (ctk_ascii)", () => {
    const ascii = (t: string) => sh('if ctk_ascii "$1"; then echo yes; else echo no; fi', [t]);
    for (const t of SAVES) expect(ascii(t), JSON.stringify(t)).toBe("yes");
    for (const t of ["caf\u00e9", "cr\r", "del\u007f", "nul-free \u0001"]) expect(ascii(t), JSON.stringify(t)).toBe("no");
  });
});

describe("the nft tables of `nft -j list tables`", () => {
  it("are named as the text listing names them, in order; nothing for empty or broken output", () => {
    const json =
      '{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "raw", "handle": 1}}, {"table": {"family": "inet", "name": "pulumi_conntrack", "handle": 2}}]}';
    expect(parseNftTables(json)).toEqual(["ip raw", "inet pulumi_conntrack"]);
    expect(parseNftTables("")).toEqual([]);
    expect(parseNftTables("{not json")).toEqual([]);
  });
});
