import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { isRoot, labRunning } from "../lab/inventory";
import { pulumiCliCached } from "../../scripts/real-engine";
import { REPO } from "./harness";

// The README's main command, run as a newcomer would (here it borrows ctlab9 and ctlab10 of the
// running lab; on a machine without a lab it starts and stops its own).
describe.skipIf(!(isRoot() && labRunning() && pulumiCliCached()))("npm run demo", () => {
  it("rolls the dns-servers example out with the real Pulumi CLI, previews, catches drift, repairs, destroys", () => {
    const tsx = path.join(REPO, "node_modules", "tsx", "dist", "cli.mjs");
    const r = spawnSync(process.execPath, [tsx, path.join(REPO, "scripts", "demo.ts")], {
      cwd: REPO,
      encoding: "utf8",
      timeout: 1_200_000,
    });
    const text = r.stdout + r.stderr;
    expect(text, text).toMatch(/^Path: the real Pulumi CLI v3\.\d+\.\d+ /m);
    for (const s of [
      "1. pulumi up:",
      "2. pulumi preview of a change",
      "3. a change by hand",
      "4. pulumi up: puts the rule back, and reports the status",
      "5. pulumi destroy",
    ])
      expect(text).toContain(`== ${s}`);
    expect(text).toMatch(/~ +pulumi-nodejs:dynamic\/conntrack:NotrackRule ctlab9-dns-ipv4-udp-in-dport updated/);
    // The status output of the last up: the table of each host, and the packets its NOTRACK rules
    // counted. ctlab9 and ctlab10 run native nftables, whose rules carry counters: the 20 UDP
    // queries sent before step 4 count on both (ctlab9's OUTPUT rule, ctlab10's PREROUTING rule).
    expect(text).toMatch(/table\s*:\s*"\d+ \/ \d+ entries/);
    const step4 = text.slice(text.indexOf("== 4. "), text.indexOf("== 5. "));
    const counted = [...step4.matchAll(/notrackPackets\s*:\s*(?:\S+ => )?(\S+)/g)].map((m) => m[1]);
    expect(counted, step4).toHaveLength(2);
    for (const n of counted) expect(Number(n), step4).toBeGreaterThanOrEqual(20);
    expect(text).not.toMatch(/notrackPackets\s*:.*<null>/);
    expect(text).not.toContain("carry no counter statement");
    expect(text.match(/byte for byte as before step 1/g)).toHaveLength(2);
    expect(text).toMatch(/^Done in \d+ s\. Path: the real Pulumi CLI /m);
    expect(r.status).toBe(0);
  }, 1_200_000);
});
