import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { APPLY_SCRIPT } from "../../../provider/resources/notrack-rule/apply";
import { ConnectionSchema } from "../../../provider/connection/schema";
import { UnsupportedError } from "../../../provider/errors";
import { decideReadableBackend, unreadableRefusal } from "../../../provider/resources/notrack-rule/batch/members";
import type { ResolvedBackend } from "../../../provider/resources/notrack-rule/syntax/rule";
import { OBSERVE_SCRIPT, parseObserved, sha256 } from "../../../provider/resources/notrack-rule/observe";

describe("observe and apply scripts", () => {
  it("are valid POSIX shell", () => {
    for (const s of [OBSERVE_SCRIPT, APPLY_SCRIPT]) execFileSync("sh", ["-n", "-c", s]);
  });

  it("parses the observe output", () => {
    const conf = "flush ruleset\n\ttab and 'quotes'\n";
    const out = [
      "@@ctk facts",
      "kernel=6.1.0-18-amd64",
      "nf_conntrack=loaded",
      "@@ctk session",
      "10.213.0.1 40000 10.213.0.16 22",
      "@@ctk modprobe",
      "/etc/modprobe.d/b.conf\t2:install nf_conntrack /bin/false",
      "@@ctk cmdline",
      "ro quiet",
      "@@ctk iptables",
      "present=1",
      "version=iptables v1.8.9 (legacy)",
      "current=legacy",
      "variant=legacy",
      "legacy_tables=raw filter ",
      "hash.PREROUTING=aaa",
      "hash.OUTPUT=bbb",
      "@@ctk ipt-save",
      "*raw",
      "-A PREROUTING -j CT --notrack",
      "COMMIT",
      "@@ctk nft",
      "present=1",
      "tables=ip filter,inet pulumi_conntrack,",
      "hash=ccc",
      "@@ctk nft-table",
      '{"nftables": []}',
      "@@ctk persist",
      "etc_iptables=1",
      "nft_service=disabled",
      "@@ctk files",
      "file=/etc/nftables.conf",
      `b64=${Buffer.from(conf).toString("base64")}`,
      "",
    ].join("\n");
    const o = parseObserved(out, "ipv4");
    expect(o.session).toEqual({ clientAddress: "10.213.0.1", clientPort: 40000, serverAddress: "10.213.0.16", serverPort: 22 });
    expect(o.conntrackBlocks).toEqual([
      { where: "/etc/modprobe.d/b.conf:2", text: "install nf_conntrack /bin/false", module: "nf_conntrack" },
    ]);
    expect(o.iptables).toEqual({
      present: true,
      version: "iptables v1.8.9 (legacy)",
      current: "legacy",
      variant: "legacy",
      save: "*raw\n-A PREROUTING -j CT --notrack\nCOMMIT",
      chainHashes: { PREROUTING: "aaa", OUTPUT: "bbb" },
    });
    expect(o.legacyTables).toEqual(["raw", "filter"]);
    expect(o.nft).toEqual({
      present: true,
      tables: ["ip filter", "inet pulumi_conntrack"],
      tableJson: '{"nftables": []}',
      tableHash: "ccc",
    });
    expect(o.persist).toEqual({
      etcIptablesDir: true,
      sysconfigDir: false,
      iptablesServices: false,
      nftService: "disabled",
      files: { "/etc/nftables.conf": { content: conf, sha256: sha256(conf) } },
    });
    expect(o.facts.nfConntrack).toBe("loaded");
  });

  it("never takes an unreadable ruleset for an empty one", () => {
    const o = parseObserved(
      [
        "@@ctk iptables",
        "present=1",
        "save_ok=0",
        "save_error=iptables-save: Permission denied (you must be root) ",
        "@@ctk nft",
        "present=1",
        "json=0",
        "",
      ].join("\n"),
      "ipv4",
    );
    expect(o.iptables.saveError).toBe("iptables-save: Permission denied (you must be root)");
    expect(o.nft.json).toBe(false);
    const conn = ConnectionSchema.parse({ host: "127.0.0.9" });
    // The planner's answer is data (no host, no throw); the kind turns it into the typed error.
    expect(unreadableRefusal("iptables-nft", o)).toMatchObject({ error: "unsupported", command: "iptables-save -t raw" });
    expect(unreadableRefusal("nftables", o)).toMatchObject({ error: "unsupported", command: "nft -j list tables" });
    const assertReadable = (c: typeof conn, b: ResolvedBackend, obs: typeof o) =>
      decideReadableBackend(c, { recorded: b, choice: "auto" }, obs);
    expect(() => assertReadable(conn, "iptables-nft", o)).toThrow(UnsupportedError);
    expect(() => assertReadable(conn, "iptables-nft", o)).toThrow(/cannot read the raw table: iptables-save: Permission denied/);
    expect(() => assertReadable(conn, "nftables", o)).toThrow(/JSON/);
    const fine = parseObserved("@@ctk iptables\nsave_ok=1\n@@ctk nft\njson=1\n", "ipv4");
    expect(() => assertReadable(conn, "iptables-legacy", fine)).not.toThrow();
    expect(() => assertReadable(conn, "nftables", fine)).not.toThrow();
  });
});
