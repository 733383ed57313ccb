import type { TableObservation } from "../../../provider/resources/table-size/observe";
import { parseFacts } from "../../../provider/transport/facts";
import { TableSizeSchema, type TableSizeDesired } from "../../../provider/resources/table-size/schema";

/** Timeouts of a 6.x kernel (the lab's), writable. */
export const TIMEOUTS_6X: Record<string, number> = {
  nf_conntrack_generic_timeout: 600,
  nf_conntrack_icmp_timeout: 30,
  nf_conntrack_tcp_timeout_close_wait: 60,
  nf_conntrack_tcp_timeout_established: 432000,
  nf_conntrack_tcp_timeout_time_wait: 120,
  nf_conntrack_udp_timeout: 30,
  nf_conntrack_udp_timeout_stream: 120,
};

/** A host as the planner sees it. */
export interface Shape {
  kernel?: string;
  nf?: "loaded" | "builtin" | "module" | "absent";
  max?: number | null;
  maxWritable?: boolean;
  count?: number | null;
  buckets?: number | null;
  bucketsSysctlWritable?: boolean;
  hashsizeWritable?: boolean;
  sysReadOnly?: boolean;
  namespace?: TableObservation["namespace"];
  cpus?: number;
  memGiB?: number;
  systemdSysctl?: string | null;
  timeouts?: Record<string, number>;
  files?: Partial<TableObservation["files"]>;
  outside?: TableObservation["outside"];
  previousRecord?: TableObservation["previousRecord"];
}

/** A Debian bookworm host: 6.1, nf_conntrack as a loaded module, 8 CPUs, 16 GiB, initial namespace. */
export function host(s: Shape = {}): TableObservation {
  const nf = s.nf ?? "loaded";
  return {
    facts: parseFacts([`kernel=${s.kernel ?? "6.1.0-28-amd64"}`, "uid=0", `nf_conntrack=${nf}`].join("\n")),
    max: s.max === null ? null : { value: s.max ?? 262144, writable: s.maxWritable ?? true },
    count: s.count === undefined ? 1000 : s.count,
    bucketsSysctl: s.buckets === null ? null : { value: s.buckets ?? 262144, writable: s.bucketsSysctlWritable ?? false },
    hashsize: s.buckets === null ? null : { value: s.buckets ?? 262144, writable: s.hashsizeWritable ?? true },
    sysReadOnly: s.sysReadOnly ?? false,
    namespace: s.namespace ?? "initial",
    cpus: s.cpus ?? 8,
    pageSize: 4096,
    memTotalBytes: (s.memGiB ?? 16) * 1024 ** 3,
    systemdSysctl: s.systemdSysctl === undefined ? "/usr/lib/systemd/systemd-sysctl" : s.systemdSysctl,
    timeouts: Object.fromEntries(Object.entries(s.timeouts ?? TIMEOUTS_6X).map(([k, v]) => [k, { value: v, writable: true }])),
    files: { sysctl: { kind: "absent" }, modprobe: { kind: "absent" }, udev: { kind: "absent" }, ...s.files },
    outside: s.outside ?? [],
    previousRecord: s.previousRecord ?? { kind: "none" },
  };
}

/** Program inputs with defaults applied (the connection left out). */
export function want(d: Record<string, unknown>): TableSizeDesired {
  const { connection: _c, ...rest } = TableSizeSchema.parse({ connection: { host: "h" }, ...d });
  return rest;
}
