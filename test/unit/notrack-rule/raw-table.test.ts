/** The raw table iptables-nft creates goes with our last rule, and only when empty and default. */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { applyInvocation } from "../../../provider/resources/notrack-rule/apply";
import { mergePlans } from "../../../provider/resources/notrack-rule/batch/merge";
import { plan, type Desired } from "../../../provider/resources/notrack-rule/plan";
import { chainsEmptiedBy, RAW_TABLE_SHELL_FUNCTIONS } from "../../../provider/resources/notrack-rule/host/raw-table";
import { observed, planAll } from "./fixtures";

const A = "pulumi-conntrack:a:0000000001";
const B = "pulumi-conntrack:b:0000000002";
const C = "pulumi-conntrack:c:0000000003";
const line = (tag: string, port: number, chain = "PREROUTING") =>
  `-A ${chain} -p udp -m udp --dport ${port} -m comment --comment "${tag}" -j CT --notrack`;
const save = (chains: string[], ...lines: string[]) => ["*raw", ...chains, ...lines, "COMMIT", ""].join("\n");
const DEFAULT = [":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"];
const FOREIGN = "-A PREROUTING -p udp -m udp --dport 5353 -j CT --notrack";
const del = (tag: string, backend: Desired["backend"] = "iptables-nft"): Desired => ({ tag, persist: false, backend });

describe("chainsEmptiedBy", () => {
  it("names the built-in chains that held a removed rule and hold nothing else, with policy ACCEPT", () => {
    const rm = (...l: string[]) => new Set(l);
    expect(chainsEmptiedBy(save(DEFAULT, line(A, 53)), rm(line(A, 53)))).toEqual(["PREROUTING"]);
    expect(
      chainsEmptiedBy(save([":PREROUTING ACCEPT [3:120]"], line(A, 53), line(B, 54, "OUTPUT")), rm(line(A, 53), line(B, 54, "OUTPUT"))),
    ).toEqual(["PREROUTING", "OUTPUT"]);
    expect(chainsEmptiedBy(save(DEFAULT, line(A, 53), FOREIGN), rm(line(A, 53)))).toEqual([]);
    expect(chainsEmptiedBy(save(DEFAULT, line(A, 53), line(B, 54, "OUTPUT")), rm(line(A, 53)))).toEqual(["PREROUTING"]);
    expect(chainsEmptiedBy(save(DEFAULT, line(A, 53), line(B, 54)), rm(line(A, 53)))).toEqual([]);
    expect(chainsEmptiedBy(save([":PREROUTING DROP [0:0]", ":OUTPUT ACCEPT [0:0]"], line(A, 53)), rm(line(A, 53)))).toEqual([]);
    // A user chain elsewhere keeps no chain from being emptied; the table check on the host keeps the table.
    expect(chainsEmptiedBy(save([...DEFAULT, ":MINE - [0:0]"], line(A, 53)), rm(line(A, 53)))).toEqual(["PREROUTING"]);
  });
});

describe("a delete that empties raw chains", () => {
  it("asks to remove them on iptables-nft, never on legacy, never with anyone else's rule in them", () => {
    expect(plan(observed({ iptables: { save: save(DEFAULT, line(A, 53)) } }), del(A)).live?.emptiedChains).toEqual(["PREROUTING"]);
    expect(
      plan(observed({ iptables: { save: save(DEFAULT, line(A, 53)) } }), del(A, "iptables-legacy")).live?.emptiedChains,
    ).toBeUndefined();
    expect(plan(observed({ iptables: { save: save(DEFAULT, line(A, 53), FOREIGN) } }), del(A)).live?.emptiedChains).toBeUndefined();
    // Updates and creates never remove anything but rules.
    const upd = plan(observed({ iptables: { save: save(DEFAULT, line(A, 53)) } }), {
      ...del(A),
      spec: { family: "ipv4", chain: "OUTPUT", protocol: "udp", destinationPort: 54 },
    });
    expect(upd.live?.emptiedChains).toBeUndefined();
  });

  it("in a batch, names every chain the members empty, each planned after the ones before", () => {
    const o = observed({ iptables: { save: save(DEFAULT, line(A, 53), line(B, 54, "OUTPUT"), line(C, 55, "OUTPUT")) } });
    const all = mergePlans(o, planAll(o, [del(A), del(B), del(C), del("pulumi-conntrack:gone:0000000009")]));
    expect(all.live).toMatchObject({ emptiedChains: ["PREROUTING", "OUTPUT"] });
    expect(applyInvocation("ipv4", all).argv.at(-2)).toBe("PREROUTING OUTPUT");
    const two = mergePlans(o, planAll(o, [del(B), del(A)]));
    expect(two.live?.emptiedChains).toEqual(["PREROUTING"]);
    const one = mergePlans(o, planAll(o, [del(B)]));
    expect(one.live?.emptiedChains).toBeUndefined();
    expect(applyInvocation("ipv4", one).argv.at(-2)).toBe("");
  });
});

describe("ctk_raw_default and ctk_raw_drop", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "ctk-raw-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // A stand-in nft: `list` prints a canned listing, anything else is logged.
  writeFileSync(
    path.join(dir, "nft"),
    '#!/bin/sh\nif [ "$1" = list ]; then [ -f "$CTK_LISTING.$2" ] || exit 1; cat "$CTK_LISTING.$2"; else echo "$*" >> "$CTK_LISTING.log"; fi\n',
  );
  chmodSync(path.join(dir, "nft"), 0o755);
  const run = (listings: { table?: string; chain?: string }, cmd: string): { ok: boolean; log: string } => {
    const f = path.join(dir, "listing");
    for (const k of ["table", "chain", "log"]) rmSync(`${f}.${k}`, { force: true });
    for (const [k, v] of Object.entries(listings)) if (v !== undefined) writeFileSync(`${f}.${k}`, v);
    let ok = true;
    try {
      execFileSync("sh", ["-c", `${RAW_TABLE_SHELL_FUNCTIONS}\n${cmd}`], {
        env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, CTK_LISTING: f },
      });
    } catch {
      ok = false;
    }
    let log = "";
    try {
      log = readFileSync(`${f}.log`, "utf8");
    } catch {
      log = "";
    }
    return { ok, log };
  };
  const check = (table: string | undefined, family = "ip") => run({ table }, `ctk_raw_default ${family}`).ok;
  const table = (family: string, body: string) => `table ${family} raw {\n${body}}\n`;
  const pre = "\tchain PREROUTING {\n\t\ttype filter hook prerouting priority raw; policy accept;\n\t}\n";
  const out = "\tchain OUTPUT {\n\t\ttype filter hook output priority -300; policy accept;\n\t}\n";

  it("accepts a table or chain as iptables-nft leaves it once empty", () => {
    expect(check(table("ip", pre + "\n" + out))).toBe(true);
    expect(check(`# Warning: table ip6 raw is managed by iptables-nft, do not touch!\n${table("ip6", pre)}`, "ip6")).toBe(true);
    expect(run({ chain: table("ip", out) }, "ctk_raw_default ip OUTPUT").ok).toBe(true);
  });

  it("refuses a missing table, a rule, a user chain, a set, another policy or hook", () => {
    expect(check(undefined)).toBe(false);
    expect(
      check(
        table(
          "ip",
          "\tchain PREROUTING {\n\t\ttype filter hook prerouting priority raw; policy accept;\n\t\tudp dport 53 counter packets 0 bytes 0 notrack\n\t}\n",
        ),
      ),
    ).toBe(false);
    expect(check(table("ip", pre + "\n\tchain MINE {\n\t}\n"))).toBe(false);
    expect(check(table("ip", pre + "\n\tset s {\n\t\ttype ipv4_addr\n\t}\n"))).toBe(false);
    expect(check(table("ip", "\tchain OUTPUT {\n\t\ttype filter hook output priority raw; policy drop;\n\t}\n"))).toBe(false);
    expect(check(table("ip", "\tchain OUTPUT {\n\t\ttype filter hook prerouting priority raw; policy accept;\n\t}\n"))).toBe(false);
    expect(check(table("ip6", pre), "ip")).toBe(false);
  });

  it("drops the emptied chains that are default, then the table only when nothing else is in it", () => {
    expect(run({ chain: table("ip", out), table: table("ip", pre + out) }, "ctk_raw_drop ip OUTPUT")).toEqual({
      ok: true,
      log: "delete chain ip raw OUTPUT\ndelete table ip raw\n",
    });
    const theirs = table("ip6", "\tchain THEIRS {\n\t}\n" + pre);
    expect(run({ chain: table("ip6", pre), table: theirs }, "ctk_raw_drop ip6 PREROUTING")).toEqual({
      ok: true,
      log: "delete chain ip6 raw PREROUTING\n",
    });
    const busy = table("ip", "\tchain OUTPUT {\n\t\ttype filter hook output priority raw; policy accept;\n\t\tcounter\n\t}\n");
    expect(run({ chain: busy, table: busy }, "ctk_raw_drop ip OUTPUT")).toEqual({ ok: true, log: "" });
  });
});
