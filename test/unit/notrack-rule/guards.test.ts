import { describe, expect, it } from "vitest";
import { parseCoreBlocks } from "../../../provider/transport/conntrack-core";
import { lockoutFromInputs, lockoutFromSession, parseSshConnection } from "../../../provider/resources/notrack-rule/host/lockout";
import type { RuleSpec } from "../../../provider/resources/notrack-rule/syntax/rule";

describe("nf_conntrack kept out", () => {
  it("finds install lines that do not load the module, and module_blacklist=", () => {
    const grep = [
      "/etc/modprobe.d/pulumi-conntrack-blacklist.conf\t3:install nf_conntrack /bin/false",
      "/etc/modprobe.d/x.conf\t1:  install nf-conntrack /usr/bin/true",
      "/etc/modprobe.d/y.conf\t7:install nf_conntrack /sbin/modprobe --ignore-install nf_conntrack $CMDLINE_OPTS",
      "/etc/modprobe.d/z.conf\t2:install nf_conntrack_ftp /bin/false",
    ].join("\n");
    expect(parseCoreBlocks(grep, "BOOT_IMAGE=/vmlinuz ro module_blacklist=nf_nat,nf_conntrack quiet")).toEqual([
      { where: "/etc/modprobe.d/pulumi-conntrack-blacklist.conf:3", text: "install nf_conntrack /bin/false", module: "nf_conntrack" },
      { where: "/etc/modprobe.d/x.conf:1", text: "install nf-conntrack /usr/bin/true", module: "nf_conntrack" },
      { where: "kernel command line", text: "module_blacklist=nf_nat,nf_conntrack", module: "nf_conntrack" },
    ]);
    expect(parseCoreBlocks("", "ro module_blacklist=nf_conntrack_ftp")).toEqual([]);
  });
});

describe("lockout guard", () => {
  const s = parseSshConnection("203.0.113.5 51022 10.0.0.5 22")!;
  const r = (x: Partial<RuleSpec>): RuleSpec => ({ family: "ipv4", chain: "PREROUTING", protocol: "tcp", ...x });

  it("reads $SSH_CONNECTION", () => {
    expect(s).toEqual({ clientAddress: "203.0.113.5", clientPort: 51022, serverAddress: "10.0.0.5", serverPort: 22 });
    expect(parseSshConnection("fe80::1%eth0 5 fe80::2%eth0 22")).toMatchObject({ clientAddress: "fe80::1" });
    expect(parseSshConnection("")).toBeUndefined();
  });

  it("with the host's view, catches what the inputs hide (NAT, port forwards)", () => {
    // The program reaches the host as 198.51.100.1:2222; the host sees 10.0.0.5:22.
    const conn = { host: "198.51.100.1", port: 2222 };
    const rule = r({ destination: "10.0.0.0/24", destinationPort: 22 });
    expect(lockoutFromInputs(rule, conn)).toBeUndefined();
    expect(lockoutFromSession(rule, s)).toMatchObject({
      property: "destinationPort",
      reason: expect.stringMatching(/203\.0\.113\.5:51022 -> 10\.0\.0\.5:22/),
    });
    expect(lockoutFromSession(r({ chain: "OUTPUT", destination: "203.0.113.5" }), s)).toMatchObject({ property: "protocol" });
    expect(lockoutFromSession(r({ chain: "OUTPUT", destination: "203.0.113.6" }), s)).toBeUndefined();
    expect(lockoutFromSession(r({ source: "192.0.2.0/24" }), s)).toBeUndefined();
    expect(lockoutFromSession(r({ sourcePort: "1024:50000" }), s)).toBeUndefined();
    expect(lockoutFromSession(r({ family: "ipv6" }), s)).toBeUndefined();
  });
});
