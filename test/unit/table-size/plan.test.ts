import { describe, expect, it } from "vitest";
import { MANAGED_FILE_HEADER } from "../../../provider/common/markers";
import { MANAGED_PATHS, modprobeFileContent, sysctlFileContent } from "../../../provider/resources/table-size/managed-files";
import { describeChange, kernelBuckets, plan, planDelete, type Change } from "../../../provider/resources/table-size/plan";
import type { TableObservation } from "../../../provider/resources/table-size/observe";
import { host, want } from "./fixtures";

const kinds = (cs: Change[]) =>
  cs.map((c) => (c.kind === "set-sysctl" ? `${c.key}=${c.to}` : c.kind === "set-buckets" ? `buckets=${c.to}` : `${c.kind}:${c.role}`));

/** The host after the changes were made. */
function simulate(o: TableObservation, changes: Change[]): TableObservation {
  const a = structuredClone(o);
  for (const c of changes) {
    if (c.kind === "set-buckets") {
      a.hashsize = { ...a.hashsize!, value: c.to };
      a.bucketsSysctl = { ...a.bucketsSysctl!, value: c.to };
    }
    if (c.kind === "set-sysctl" && c.key === "nf_conntrack_max") a.max = { ...a.max!, value: c.to };
    else if (c.kind === "set-sysctl") a.timeouts[c.key] = { value: c.to, writable: true };
    if (c.kind === "write-file") a.files[c.role] = { kind: "file", content: c.content };
    if (c.kind === "remove-file") a.files[c.role] = { kind: "absent" };
  }
  return a;
}

describe("ConntrackTableSize planner", () => {
  it("kube-proxy sizing: max = max(perCore × CPUs, min); derived buckets max/4 rounded to the page step; persisted with the udev hook", () => {
    const o = host({ cpus: 16, max: 262144, buckets: 65536 });
    const p = plan(o, want({ maxPerCore: 32768, min: 131072 }));
    expect(p.refusal).toBeUndefined();
    expect(p.target).toMatchObject({ max: 524288, buckets: 131072, bucketsDerived: true });
    expect(kinds(p.changes)).toEqual([
      "buckets=131072",
      "nf_conntrack_max=524288",
      "write-file:sysctl",
      "write-file:modprobe",
      "write-file:udev",
    ]);
    const files = Object.fromEntries(
      p.changes.filter((c) => c.kind === "write-file").map((c) => [c.role, (c as { content: string }).content]),
    );
    expect(files.sysctl).toBe(sysctlFileContent([["nf_conntrack_max", 524288]]));
    expect(files.modprobe).toBe(modprobeFileContent(131072));
    expect(files.udev).toContain(
      'ACTION=="add", SUBSYSTEM=="module", KERNEL=="nf_conntrack", RUN+="/usr/lib/systemd/systemd-sysctl --prefix=/net/netfilter"',
    );
    expect(files.sysctl.split("\n")[0]).toBe(MANAGED_FILE_HEADER);
    expect(p.record).toMatchObject({ previousMax: 262144, previousBuckets: 65536 });
    expect(p.memoryEstimateBytes).toBe(524288 * 320 + 131072 * 8);
    expect(p.notes).toContain("max = max(maxPerCore 32768 × 16 CPUs, min 131072) = 524288");
    // Converged: the next plan changes nothing.
    const again = plan(simulate(o, p.changes), want({ maxPerCore: 32768, min: 131072 }), p.record);
    expect(again.changes).toEqual([]);
    expect(again.record).toEqual(p.record);
  });

  it("uses min when CPUs × perCore is smaller, and never lowers a derived hash size the host already exceeds (nor pins it)", () => {
    const p = plan(host({ cpus: 2, max: 65536, buckets: 262144 }), want({ maxPerCore: 32768, min: 131072 }));
    expect(kinds(p.changes)).toEqual(["nf_conntrack_max=131072", "write-file:sysctl", "write-file:udev"]);
    expect(p.notes.join(" ")).toMatch(/hash size stays 262144.*only ever raised/);
  });

  it("rounds the derived hash size up to whole pages and refuses an explicit one the kernel would round", () => {
    expect(kernelBuckets(1000, 4096)).toBe(1024);
    expect(kernelBuckets(65536, 65536)).toBe(65536);
    expect(plan(host({ buckets: 512 }), want({ max: 10000 })).target.buckets).toBe(2560);
    const p = plan(host(), want({ max: 300000, buckets: 1000 }));
    expect(p.refusal).toMatchObject({ error: "unsupported" });
    expect(p.refusal!.message).toMatch(/rounds the hash size up.*would show 1024/);
    expect(p.refusal!.hint).toBe("set buckets to 1024, or leave it out to derive it from max");
    expect(p.changes).toEqual([]);
  });

  it("refuses max and buckets outside the initial network namespace, and lets timeouts through (the way out)", () => {
    for (const o of [host({ namespace: "other" }), host({ namespace: "unknown", maxWritable: false }), host({ namespace: "unknown" })]) {
      const p = plan(o, want({ max: 300000 }));
      expect(p.refusal?.message).toMatch(/global to the host and cannot be set from it/);
      expect(p.refusal?.hint).toMatch(/keep only timeouts/);
    }
    const ok = plan(
      host({ namespace: "other", maxWritable: false, hashsizeWritable: true }),
      want({ timeouts: { udp: 60, tcpEstablished: 86400 } }),
    );
    expect(ok.refusal).toBeUndefined();
    expect(kinds(ok.changes)).toEqual([
      "nf_conntrack_tcp_timeout_established=86400",
      "nf_conntrack_udp_timeout=60",
      "write-file:sysctl",
      "write-file:udev",
    ]);
    expect(ok.record.previousTimeouts).toEqual({ nf_conntrack_tcp_timeout_established: 432000, nf_conntrack_udp_timeout: 30 });
  });

  it("read-only /sys: an explicit hash size is refused; a derived one is skipped with a warning (kube-proxy's behaviour)", () => {
    const ro = host({ sysReadOnly: true, buckets: 16384, max: 65536 });
    expect(plan(ro, want({ max: 131072, buckets: 32768 })).refusal?.message).toMatch(/hash size cannot be changed here.*read-only/);
    const p = plan(ro, want({ max: 131072 }));
    expect(p.refusal).toBeUndefined();
    expect(kinds(p.changes)).toEqual(["nf_conntrack_max=131072", "write-file:sysctl", "write-file:udev"]);
    expect(p.warnings[0]).toMatch(/hash size cannot be changed.*stays 16384, below max \/ 4 \(32768\)/);
    // The buckets sysctl, where the kernel lets it be written, is the other way in.
    const viaSysctl = plan(
      host({ hashsizeWritable: false, bucketsSysctlWritable: true, buckets: 16384, max: 65536 }),
      want({ max: 131072 }),
    );
    expect(viaSysctl.changes[0]).toMatchObject({ kind: "set-buckets", via: "sysctl", to: 32768 });
  });

  it("onlyRaise keeps higher values (max, buckets, timeouts) and says so", () => {
    const p = plan(
      host({ max: 1048576, buckets: 262144 }),
      want({ max: 524288, buckets: 131072, onlyRaise: true, timeouts: { tcpEstablished: 86400, udp: 60 } }),
    );
    expect(kinds(p.changes)).toEqual(["nf_conntrack_udp_timeout=60", "write-file:sysctl", "write-file:modprobe", "write-file:udev"]);
    expect(p.effective).toMatchObject({ max: 1048576, buckets: 262144 });
    expect(p.notes.join("\n")).toMatch(/nf_conntrack_max stays 1048576.*onlyRaise/);
    const sysctl = p.changes.find((c) => c.kind === "write-file" && c.role === "sysctl") as { content: string };
    expect(sysctl.content).toContain("net.netfilter.nf_conntrack_max = 1048576");
    expect(sysctl.content).toContain("net.netfilter.nf_conntrack_tcp_timeout_established = 432000");
  });

  it("refuses a table whose memory estimate exceeds 10% of RAM unless allowLargeTable", () => {
    const big = host({ memGiB: 4, cpus: 96 });
    const p = plan(big, want({ maxPerCore: 32768 }));
    expect(p.target.max).toBe(3145728);
    expect(p.refusal?.message).toMatch(
      /3145728 entries and 786432 buckets needs about 966\.0 MiB.*more than 10% of this host's 4\.0 GiB RAM/,
    );
    expect(p.refusal?.hint).toMatch(/allowLargeTable: true/);
    expect(plan(big, want({ maxPerCore: 32768, allowLargeTable: true })).refusal).toBeUndefined();
  });

  it("refuses a max below the live count (new connections would be dropped)", () => {
    const p = plan(host({ count: 200000, max: 262144 }), want({ max: 100000 }));
    expect(p.refusal?.message).toMatch(/below the 200000 connections tracked now/);
  });

  it("validates timeout names against the host's sysctls", () => {
    const p = plan(host({ timeouts: { nf_conntrack_udp_timeout: 30 } }), want({ timeouts: { udpStream: 120 } }));
    expect(p.refusal?.message).toMatch(/timeouts.udpStream: net.netfilter.nf_conntrack_udp_timeout_stream does not exist/);
    expect(p.refusal?.hint).toMatch(/this host has: udp/);
  });

  it("refuses when nf_conntrack is not loaded (no max to set) and when maxPerCore has no CPU count", () => {
    expect(plan(host({ max: null, nf: "module" }), want({ max: 1000 })).refusal?.hint).toMatch(/modprobe nf_conntrack/);
    expect(plan(host({ cpus: 0 }), want({ maxPerCore: 1000 })).refusal?.hint).toBe("give max instead of maxPerCore");
  });

  it("built-in nf_conntrack: no modprobe.d option or udev rule; the hash size needs the kernel command line", () => {
    const p = plan(host({ nf: "builtin", buckets: 16384, max: 65536 }), want({ max: 131072, buckets: 32768 }));
    expect(kinds(p.changes)).toEqual(["buckets=32768", "nf_conntrack_max=131072", "write-file:sysctl"]);
    expect(p.warnings.join(" ")).toMatch(/nf_conntrack.hashsize=32768/);
    const writable = plan(
      host({ nf: "builtin", buckets: 16384, max: 65536, bucketsSysctlWritable: true }),
      want({ max: 131072, buckets: 32768 }),
    );
    const c = writable.changes.find((x) => x.kind === "write-file") as { content: string };
    expect(c.content).toContain("net.netfilter.nf_conntrack_buckets = 32768");
  });

  it("warns where there is no systemd-sysctl to re-apply the values when the module loads", () => {
    const p = plan(host({ systemdSysctl: null }), want({ max: 300000 }));
    expect(kinds(p.changes)).toEqual(["nf_conntrack_max=300000", "write-file:sysctl"]);
    expect(p.warnings[0]).toMatch(/no systemd-sysctl/);
  });

  it("persist: false writes no file and removes its own", () => {
    const o = host({ files: { sysctl: { kind: "file", content: `${MANAGED_FILE_HEADER}\nnet.netfilter.nf_conntrack_max = 1\n` } } });
    const p = plan(o, want({ max: 300000, persist: false }), {
      previousMax: null,
      previousBuckets: null,
      previousTimeouts: {},
      previousFiles: { sysctl: null, modprobe: null, udev: null },
    });
    expect(kinds(p.changes)).toEqual(["nf_conntrack_max=300000", "remove-file:sysctl"]);
  });

  it("refuses to take over a file at its path that holds someone else's settings, or is not a regular file", () => {
    const foreign = host({ files: { sysctl: { kind: "file", content: "vm.swappiness = 10\n" } } });
    expect(plan(foreign, want({ max: 300000 })).refusal).toMatchObject({ error: "conflict" });
    expect(plan(host({ files: { udev: { kind: "other", what: "symlink" } } }), want({ max: 300000 })).refusal?.message).toMatch(
      /is a symlink/,
    );
  });

  it("warns about other files that set the same keys to other values", () => {
    const o = host({
      outside: [
        {
          source: "sysctl",
          path: "/etc/sysctl.d/99-k8s.conf",
          line: 3,
          text: "net.netfilter.nf_conntrack_max = 131072",
          key: "nf_conntrack_max",
          value: 131072,
        },
      ],
    });
    expect(plan(o, want({ max: 300000 })).warnings[0]).toMatch(
      /99-k8s.conf:3.*sets nf_conntrack_max to 131072, not 300000: it is read after this resource's file and wins at boot/,
    );
  });

  it("previous values: recorded at the first change, never replaced by a drift value; delete restores them", () => {
    const o = host({ max: 262144, buckets: 65536 });
    const d = want({ max: 524288, buckets: 131072, timeouts: { udp: 60 } });
    const p = plan(o, d);
    const after = simulate(o, p.changes);
    // Someone lowers max by hand: the update repairs it, but the recorded previous value stays.
    const drifted = structuredClone(after);
    drifted.max = { value: 200000, writable: true };
    const repair = plan(drifted, d, p.record);
    expect(kinds(repair.changes)).toEqual(["nf_conntrack_max=524288"]);
    expect(repair.record.previousMax).toBe(262144);
    const del = planDelete(simulate(drifted, repair.changes), repair.record);
    expect(del.changes.map(describeChange)).toEqual([
      "set the hash size 131072 -> 65536 (/sys/module/nf_conntrack/parameters/hashsize)",
      "set net.netfilter.nf_conntrack_max 524288 -> 262144",
      "set net.netfilter.nf_conntrack_udp_timeout 60 -> 30",
      `removed ${MANAGED_PATHS.sysctl} (delete: there was no file before create)`,
      `removed ${MANAGED_PATHS.modprobe} (delete: there was no file before create)`,
      `removed ${MANAGED_PATHS.udev} (delete: there was no file before create)`,
    ]);
  });
});
