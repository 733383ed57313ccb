import { z } from "zod";
import { ConnectionSchema } from "../../connection/schema";

/** Type name of the resource (the dynamic-provider type token ends with it). */
export const TABLE_SIZE_TYPE = "ConntrackTableSize";

/** Largest `nf_conntrack_max` the kernel accepts (an `int` sysctl). */
export const MAX_LIMIT = 2_147_483_647;
/**
 * Largest hash size: the kernel refuses a bucket array above `INT_MAX` bytes (8 bytes a bucket on
 * 64-bit hosts) in `nf_ct_alloc_hashtable`.
 */
export const BUCKETS_LIMIT = Math.floor(2_147_483_647 / 8);
/**
 * Largest timeout in seconds: `proc_dointvec_jiffies` refuses values above `INT_MAX / HZ` (HZ is at
 * most 1000 on the kernels that matter).
 */
export const TIMEOUT_LIMIT = Math.floor(2_147_483_647 / 1000);

/** Timeout names the program uses, and the sysctl under `net.netfilter.` each one sets. */
export const TIMEOUT_SYSCTLS = {
  tcpEstablished: "nf_conntrack_tcp_timeout_established",
  tcpCloseWait: "nf_conntrack_tcp_timeout_close_wait",
  tcpTimeWait: "nf_conntrack_tcp_timeout_time_wait",
  tcpSynSent: "nf_conntrack_tcp_timeout_syn_sent",
  tcpSynRecv: "nf_conntrack_tcp_timeout_syn_recv",
  tcpFinWait: "nf_conntrack_tcp_timeout_fin_wait",
  tcpLastAck: "nf_conntrack_tcp_timeout_last_ack",
  tcpClose: "nf_conntrack_tcp_timeout_close",
  tcpMaxRetrans: "nf_conntrack_tcp_timeout_max_retrans",
  tcpUnacknowledged: "nf_conntrack_tcp_timeout_unacknowledged",
  udp: "nf_conntrack_udp_timeout",
  udpStream: "nf_conntrack_udp_timeout_stream",
  icmp: "nf_conntrack_icmp_timeout",
  icmpv6: "nf_conntrack_icmpv6_timeout",
  generic: "nf_conntrack_generic_timeout",
} as const;

/** A timeout's name as the program writes it. */
export type TimeoutName = keyof typeof TIMEOUT_SYSCTLS;

/** Every timeout name, in a fixed order (outputs and files list them in it). */
export const TIMEOUT_NAMES = Object.keys(TIMEOUT_SYSCTLS) as TimeoutName[];

const seconds = z.number().int().min(1).max(TIMEOUT_LIMIT);
const timeoutShape = Object.fromEntries(TIMEOUT_NAMES.map((n) => [n, seconds.optional()])) as Record<
  TimeoutName,
  z.ZodOptional<typeof seconds>
>;

/**
 * Inputs of a `ConntrackTableSize`: the size of one host's conntrack table (`nf_conntrack_max`,
 * the hash size) and its timeouts. Unknown properties are refused; combinations (`max` with
 * `maxPerCore`, `min` without it) are refused by the kind's `validate`.
 */
export const TableSizeSchema = z
  .object({
    /** How to reach the host (`@pulumi/command`'s `remote.ConnectionArgs`, plus `sudo`). */
    connection: ConnectionSchema,
    /** `nf_conntrack_max`, absolute. */
    max: z.number().int().min(1).max(MAX_LIMIT).optional(),
    /** kube-proxy's sizing: max = max(maxPerCore × CPUs, min). */
    maxPerCore: z.number().int().min(1).max(MAX_LIMIT).optional(),
    /** The floor of per-core sizing (kube-proxy's `conntrack-min`, 131072 by default there). */
    min: z.number().int().min(0).max(MAX_LIMIT).optional(),
    /** Hash buckets (`hashsize`); default max / 4 rounded up to the kernel's 512-bucket step, as kube-proxy derives it. */
    buckets: z.number().int().min(1).max(BUCKETS_LIMIT).optional(),
    /** Never lower a value the host already has higher (max, buckets, timeouts). */
    onlyRaise: z.boolean().default(false),
    /** Timeouts in seconds by name; each must exist as a sysctl on the host. */
    timeouts: z.object(timeoutShape).strict().default({}),
    /** Persist: a sysctl.d file for the sysctls, a modprobe.d option for the hash size. */
    persist: z.boolean().default(true),
    /** Accept a table whose kernel memory estimate exceeds the share of RAM that is otherwise refused. */
    allowLargeTable: z.boolean().default(false),
  })
  .strict();

/** Validated inputs with defaults applied. */
export type TableSizeInputs = z.output<typeof TableSizeSchema>;

/** What the program asks for, without the connection. */
export type TableSizeDesired = Omit<TableSizeInputs, "connection">;

/** Combination checks that need no host (the schema checks each field alone). */
export function combinationFailures(i: Partial<TableSizeDesired>): Array<{ property: string; reason: string }> {
  const out: Array<{ property: string; reason: string }> = [];
  if (i.max !== undefined && i.maxPerCore !== undefined)
    out.push({ property: "max", reason: "give either max or maxPerCore (with min), not both" });
  if (i.min !== undefined && i.maxPerCore === undefined)
    out.push({ property: "min", reason: "min is the floor of maxPerCore sizing; without maxPerCore give max instead" });
  const anything =
    i.max !== undefined ||
    i.maxPerCore !== undefined ||
    i.buckets !== undefined ||
    Object.keys(i.timeouts ?? {}).some((k) => (i.timeouts as Record<string, unknown>)[k] !== undefined);
  if (!anything) out.push({ property: "max", reason: "nothing to manage: give max or maxPerCore, buckets, or timeouts" });
  return out;
}
