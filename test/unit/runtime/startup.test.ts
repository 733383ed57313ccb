/**
 * What a preview costs the provider process: Check and Diff never connect, so loading the runtime
 * and answering them must not load the SSH client (ssh2 is loaded on the first dial).
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const REPO = path.resolve(__dirname, "../../..");

describe("provider start-up", () => {
  it("Check and Diff load no SSH client", () => {
    const program = `
      const { handler } = require("./provider/runtime");
      const h = handler("NotrackRule");
      const news = { connection: { host: "10.0.0.1", user: "root", privateKey: "k" }, ruleName: "dns", chain: "PREROUTING", protocol: "udp", destinationPort: 53 };
      h.check({}, news).then(async (c) => {
        await h.diff("id", c.inputs, c.inputs);
        const loaded = Object.keys(require.cache).filter((k) => k.includes("/node_modules/ssh2/"));
        process.stdout.write(JSON.stringify({ failures: c.failures ?? [], ssh2: loaded.length }));
      });
    `;
    const r = spawnSync(process.execPath, ["--import", "tsx", "-e", program], { cwd: REPO, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ failures: [], ssh2: 0 });
  });
});
