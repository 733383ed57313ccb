/** Each member of a batch whose saved-ruleset write failed is told exactly what was and was not done. */
import { describe, expect, it } from "vitest";
import { ConnectionSchema } from "../../../provider/connection/schema";
import { RemoteCommandError } from "../../../provider/errors";
import { fileError } from "../../../provider/resources/notrack-rule/batch/members";
import { plan } from "../../../provider/resources/notrack-rule/plan";
import { observed } from "./fixtures";

const conn = ConnectionSchema.parse({ host: "192.0.2.7" });
const TAG = "pulumi-conntrack:dns:0123456789";
const spec = { family: "ipv4" as const, chain: "PREROUTING" as const, protocol: "udp" as const, destinationPort: 53 };
const req = {
  op: "create" as const,
  tag: TAG,
  spec,
  family: "ipv4" as const,
  persist: true,
  choice: "auto" as const,
  allowManagementTraffic: false,
};
const rofs = (code: number) =>
  new RemoteCommandError("x", {
    exitCode: code,
    stdout: "",
    stderr: "mktemp: failed to create file via template '/etc/iptables/.ctk-tmp.rules.v4.XXXXXX': Read-only file system\n",
  });

describe("file errors per member", () => {
  const p = plan(observed({ persist: { etcIptablesDir: true } }), { tag: TAG, spec, persist: true, backend: "iptables-nft" });

  it("before the live change: nothing was changed, why, and what to do (with host and command)", () => {
    const e = fileError(conn, req, p, rofs(11), "prepare");
    expect(e.message).toMatch(
      /^root@192\.0\.2\.7:22: nothing was changed for rule pulumi-conntrack:dns:0123456789: \/etc\/iptables\/rules\.v4 cannot be written \(mktemp: .*Read-only file system\)/,
    );
    expect(e.message).toMatch(/the live ruleset was not changed either/);
    expect(e.command).toMatch(/write \/etc\/iptables\/rules\.v4/);
    expect(e.hint).toMatch(/make \/etc\/iptables writable.*persist: false/);
    expect(e.message).not.toMatch(/in place/);
  });

  it("after the live change: what was done live, and that the saved copy is missing until the next up", () => {
    const e = fileError(conn, req, p, rofs(13), "replace");
    expect(e.message).toMatch(
      /the live change was made \(added \(iptables-nft\): -A PREROUTING .*\), but \/etc\/iptables\/rules\.v4 could not be replaced/,
    );
    expect(e.message).toMatch(/not saved in \/etc\/iptables\/rules\.v4 yet, so it is gone after a reboot/);
    expect(e.hint).toMatch(/pulumi up/);
  });

  it("a removal whose file could not be rewritten says the rule comes back at the next boot", () => {
    const o = observed({
      iptables: { save: `*raw\n-A PREROUTING -p udp -m udp --dport 53 -m comment --comment "${TAG}" -j CT --notrack\nCOMMIT\n` },
      persist: { etcIptablesDir: true },
    });
    const del = plan(o, { tag: TAG, persist: false, backend: "iptables-nft" });
    const e = fileError(
      conn,
      { ...req, op: "delete", spec: undefined, persist: false },
      { ...del, file: { path: "/etc/iptables/rules.v4", expectedSha256: "x", content: null, mode: "0640" } },
      rofs(13),
      "replace",
    );
    expect(e.message).toMatch(/the live change was made \(removed/);
    expect(e.message).toMatch(/still saved in \/etc\/iptables\/rules\.v4 and comes back at the next boot/);
  });
});
