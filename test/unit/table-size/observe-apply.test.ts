import { describe, expect, it } from "vitest";
import { MANAGED_FILE_HEADER } from "../../../provider/common/markers";
import { applyArgs, verify } from "../../../provider/resources/table-size/apply";
import { MANAGED_PATHS } from "../../../provider/resources/table-size/managed-files";
import { parseObservation } from "../../../provider/resources/table-size/observe";
import { reflectedDesired, recordedOf } from "../../../provider/resources/table-size/outputs";
import { plan } from "../../../provider/resources/table-size/plan";
import { host, want } from "./fixtures";

const hex = (s: string) => Buffer.from(s).toString("hex");

// The observe script's output on a lab host (6.18, built in, a network namespace: max 0444).
const LAB = `@@ctk facts
kernel=6.18.44-fc-v1045
uid=0
nf_conntrack=builtin
@@ctk table
max=262144 444
count=0 444
buckets=262144 444
hashsize=262144 644
sys_opts=rw,relatime
netns_self=net:[4026540460]
netns_init=
cpus=2
pagesize=4096
memtotal_kb=24683584
systemd_sysctl=/usr/lib/systemd/systemd-sysctl
@@ctk timeouts
nf_conntrack_generic_timeout=600 644
nf_conntrack_udp_timeout=30 644
@@ctk file.sysctl
kind=file
hex=${hex(`${MANAGED_FILE_HEADER}\nnet.netfilter.nf_conntrack_udp_timeout = 60\n`)}
mode=644
@@ctk file.modprobe
kind=absent
@@ctk file.udev
kind=symlink
@@ctk outside
sysctl\t/etc/sysctl.d/99-k8s.conf\t3:net.netfilter.nf_conntrack_max=131072
modprobe\t/etc/modprobe.d/x.conf\t1:options nf_conntrack hashsize=16384
`;

describe("observe parser", () => {
  it("reads values with their write permission, the namespace, the files and other settings", () => {
    const o = parseObservation(LAB);
    expect(o.max).toEqual({ value: 262144, writable: false });
    expect(o.hashsize).toEqual({ value: 262144, writable: true });
    expect(o.count).toBe(0);
    expect(o.namespace).toBe("unknown");
    expect(o.cpus).toBe(2);
    expect(o.memTotalBytes).toBe(24683584 * 1024);
    expect(o.facts.nfConntrack).toBe("builtin");
    expect(o.timeouts.nf_conntrack_udp_timeout).toEqual({ value: 30, writable: true });
    expect(o.files.sysctl).toMatchObject({ kind: "file", mode: "644" });
    expect(o.files.udev).toEqual({ kind: "other", what: "symlink" });
    expect(o.outside).toEqual([
      {
        source: "sysctl",
        path: "/etc/sysctl.d/99-k8s.conf",
        line: 3,
        text: "net.netfilter.nf_conntrack_max=131072",
        key: "nf_conntrack_max",
        value: 131072,
      },
      {
        source: "modprobe",
        path: "/etc/modprobe.d/x.conf",
        line: 1,
        text: "options nf_conntrack hashsize=16384",
        key: "hashsize",
        value: 16384,
      },
    ]);
    expect(parseObservation(LAB.replace("netns_init=", "netns_init=net:[4026540460]")).namespace).toBe("initial");
    expect(parseObservation(LAB.replace("netns_init=", "netns_init=net:[4026531840]")).namespace).toBe("other");
  });
});

describe("apply arguments and verification", () => {
  it("passes paths, file actions, contents and value pairs as positional parameters", () => {
    const p = plan(host({ max: 262144, buckets: 65536 }), want({ max: 524288, buckets: 131072 }));
    const args = applyArgs(p.changes);
    expect(args.slice(0, 6)).toEqual([MANAGED_PATHS.sysctl, MANAGED_PATHS.modprobe, MANAGED_PATHS.udev, "write", "write", "write"]);
    expect(args.slice(9)).toEqual([
      "/sys/module/nf_conntrack/parameters/hashsize",
      "131072",
      "/proc/sys/net/netfilter/nf_conntrack_max",
      "524288",
    ]);
    expect(() => applyArgs([{ kind: "set-sysctl", key: "../../x", from: 1, to: 2 }])).toThrow(/not a conntrack sysctl/);
  });

  it("verify names every value the host does not show", () => {
    const o = host({ max: 100 });
    expect(verify(o, [{ kind: "set-sysctl", key: "nf_conntrack_max", from: 1, to: 200 }])).toEqual([
      "net.netfilter.nf_conntrack_max reads 100 after writing 200",
    ]);
    expect(verify(o, [{ kind: "remove-file", role: "udev", path: "x", why: "" }])).toEqual([]);
  });
});

describe("read: drift shown as inputs, recorded values from state", () => {
  it("reflects a drifted max (per-core sizing comes back as an absolute max), buckets, timeouts and files", () => {
    const d = want({ maxPerCore: 32768, min: 131072, timeouts: { udp: 60 } });
    const drifted = host({ cpus: 8, max: 100000, buckets: 65536, timeouts: { nf_conntrack_udp_timeout: 30 } });
    const p = plan(drifted, d, recordedOf({ previousMax: 50000, previousFiles: { sysctl: null, modprobe: null, udev: null } }));
    const r = reflectedDesired(p, d);
    expect(r.max).toBe(100000);
    expect(r.maxPerCore).toBeUndefined();
    expect(r.min).toBeUndefined();
    expect(r.timeouts.udp).toBe(30);
    expect(r.persist).toBe(false);
    expect(p.record.previousMax).toBe(50000);
  });
  it("reads malformed recorded values as not recorded", () => {
    expect(
      recordedOf({ previousMax: "x", previousTimeouts: { "../x": 1, nf_conntrack_udp_timeout: 30 }, previousFiles: { sysctl: 3 } }),
    ).toEqual({
      previousMax: null,
      previousBuckets: null,
      previousTimeouts: { nf_conntrack_udp_timeout: 30 },
      previousFiles: { sysctl: null, modprobe: null, udev: null },
    });
  });
});
