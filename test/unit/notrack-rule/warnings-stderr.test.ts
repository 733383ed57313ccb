/**
 * Warnings an operator must see (a saved rule that nothing loads at boot), and the scripts' rule
 * that a tool's stderr is never parsed as rules: run against a fake `iptables-nft-save` that warns on
 * stderr, as it does when legacy tables are present. Pure, or local `sh` only.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { APPLY_SCRIPT } from "../../../provider/resources/notrack-rule/apply";
import { persistenceFor, persistenceWarnings } from "../../../provider/resources/notrack-rule/host/backend";
import { OBSERVE_SCRIPT, parseObserved } from "../../../provider/resources/notrack-rule/observe";
import { SHELL_FUNCTIONS } from "../../../provider/resources/notrack-rule/host/shell";
import { parseFacts } from "../../../provider/transport/facts";
import { file, observed } from "./fixtures";

describe("persistence warnings", () => {
  const conf = { files: { "/etc/nftables.conf": file("flush ruleset\n") } };

  it("warns when nftables.service is disabled, and says how to fix it", () => {
    const p = persistenceFor("nftables", observed({ persist: { ...conf, nftService: "disabled" } }), true);
    expect(persistenceWarnings(p, true)).toEqual([expect.stringMatching(/nftables\.service is disabled.*systemctl enable nftables/)]);
    expect(persistenceWarnings(persistenceFor("nftables", observed({ persist: { ...conf, nftService: "enabled" } }), true), true)).toEqual(
      [],
    );
  });

  it("warns when netfilter-persistent is installed but disabled", () => {
    const facts = parseFacts(
      "kernel=6.1.0\nuid=0\nbin.iptables=/usr/sbin/iptables\nbin.netfilter-persistent=/usr/sbin/netfilter-persistent\nos.ID=debian",
    );
    const o = (state: string) => observed({ facts, persist: { etcIptablesDir: true, netfilterPersistentService: state } });
    expect(persistenceWarnings(persistenceFor("iptables-nft", o("disabled"), true), true)).toEqual([
      expect.stringMatching(/netfilter-persistent\.service is disabled.*systemctl enable netfilter-persistent/),
    ]);
    expect(persistenceWarnings(persistenceFor("iptables-nft", o("enabled"), true), true)).toEqual([]);
  });

  it("warns when iptables.service is masked on a RHEL host", () => {
    const o = observed({ persist: { sysconfigDir: true, iptablesServices: true, iptablesService: "masked" } });
    expect(persistenceWarnings(persistenceFor("iptables-nft", o, true), true)).toEqual([
      expect.stringMatching(/iptables\.service is masked/),
    ]);
  });

  it("says nothing for persist: false, which asks for a rule gone after a reboot", () => {
    const p = persistenceFor("nftables", observed({ persist: { ...conf, nftService: "disabled" } }), false);
    expect(persistenceWarnings(p, false)).toEqual([]);
  });

  it("reads the units' states from the observe output", () => {
    // systemctl list-unit-files --no-legend: UNIT FILE, STATE, PRESET; the family's iptables unit only.
    const units = [
      "@@ctk units",
      "ip6tables.service            enabled  enabled",
      "iptables.service             masked   enabled",
      "netfilter-persistent.service disabled enabled",
      "nftables.service             enabled  enabled",
      "",
    ].join("\n");
    expect(parseObserved(units, "ipv4").persist).toMatchObject({
      nftService: "enabled",
      netfilterPersistentService: "disabled",
      iptablesService: "masked",
    });
    expect(parseObserved(units, "ipv6").persist).toMatchObject({ iptablesService: "enabled" });
    // No systemctl, or none of the units has a file: nothing said.
    const none = parseObserved("@@ctk units\n", "ipv4").persist;
    expect([none.nftService, none.netfilterPersistentService, none.iptablesService]).toEqual([undefined, undefined, undefined]);
  });
});

describe("a tool's stderr is never parsed as rules", () => {
  it("merges stderr nowhere but in the restore binary's option probe", () => {
    for (const s of [SHELL_FUNCTIONS, OBSERVE_SCRIPT, APPLY_SCRIPT]) {
      const merged = s.split("\n").filter((l) => /2>&1(?! *>\/dev\/null)/.test(l) && !/>\/dev\/null 2>&1/.test(l));
      expect(merged.filter((l) => !l.includes("--help"))).toEqual([]);
    }
  });

  it("reads only standard output of a save that warns on stderr, and still reports a failing one's message", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ctk-save-"));
    const rules = Array.from(
      { length: 60 },
      (_, i) => `-A PREROUTING -p udp -m udp --dport ${7000 + i} -m comment --comment "pulumi-conntrack:r${i}:0123456789" -j CT --notrack`,
    );
    const out = ["*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ...rules, "COMMIT"].join("\n");
    writeFileSync(path.join(dir, "out.txt"), out + "\n");
    // Interleaves a warning in the middle of stdout, as a pipe-buffer-sized write does.
    writeFileSync(
      path.join(dir, "iptables-nft-save"),
      `#!/bin/sh\nhead -c 2000 "${dir}/out.txt"; echo "# Warning: iptables-legacy tables present, use iptables-legacy-save to see them" >&2; tail -c +2001 "${dir}/out.txt"\n[ -e "${dir}/fail" ] && { echo "boom" >&2; exit 1; }\nexit 0\n`,
    );
    chmodSync(path.join(dir, "iptables-nft-save"), 0o755);
    const run = () =>
      execFileSync("sh", ["-c", `${SHELL_FUNCTIONS}\nctk_nft_ok() { return 0; }\nctk_ipt_raw_save nft 4`], {
        env: { PATH: `${dir}:/usr/bin:/bin` },
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
    expect(run().trimEnd()).toBe(out);
    writeFileSync(path.join(dir, "fail"), "");
    let err = "";
    try {
      run();
    } catch (e) {
      err = String((e as { stderr?: string }).stderr);
    }
    expect(err).toContain("iptables-nft-save: ");
    expect(err).toContain("boom");
  });
});
