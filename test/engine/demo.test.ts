import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { isRoot, labRunning } from "../lab/inventory";
import { REPO } from "./harness";

// The README's main command, run as a newcomer would (here it borrows ctlab9 and ctlab10 of the
// running lab; on a machine without a lab it starts and stops its own).
describe.skipIf(!(isRoot() && labRunning()))("npm run demo", () => {
  it("rolls the dns-servers example out, previews, catches drift, repairs, destroys, and says which path it took", () => {
    const tsx = path.join(REPO, "node_modules", "tsx", "dist", "cli.mjs");
    const r = spawnSync(process.execPath, [tsx, path.join(REPO, "scripts", "demo.ts")], { cwd: REPO, encoding: "utf8", timeout: 300_000 });
    const text = r.stdout + r.stderr;
    expect(text, text).toMatch(/^Path: (SDK dynamic-provider path \(no Pulumi CLI on PATH\)|Pulumi CLI through the Automation API)/m);
    for (const s of ["1. up:", "2. preview of a change", "3. a change by hand", "4. up: puts the rule back", "5. destroy"]) expect(text).toContain(`== ${s}`);
    expect(text).toMatch(/drift +ctlab9-dns-ipv4-udp-in-dport/);
    expect(text.match(/byte for byte as before step 1/g)).toHaveLength(2);
    expect(text).toMatch(/^Done in \d+ s\. Path: /m);
    expect(r.status).toBe(0);
  }, 300_000);
});
