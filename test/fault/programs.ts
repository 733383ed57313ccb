/**
 * What the fault tier drives: every kind's dynamic-provider handlers (as the serialized provider
 * calls them), with the engine's order of calls (`check`, then `create`/`update`/`delete` with the
 * checked inputs), and the small programs the tests apply on the fault hosts.
 */
import { expect } from "vitest";
import { handler } from "../../provider/runtime";
import { connectionOf } from "./faults";

/** A property bag as the engine passes it. */
export type Props = Record<string, unknown>;

/** The three kinds. */
export const KINDS = ["NotrackRule", "ConntrackHelperSetting", "ModuleBlacklist"] as const;
export type Kind = (typeof KINDS)[number];

/** The handlers of a kind. */
export const h = (kind: Kind) => handler(kind);

/** check then create, as the engine does; a check failure is a test failure. */
export async function create(kind: Kind, news: Props): Promise<{ id: string; outs: Props }> {
  const c = await h(kind).check({}, news);
  expect(c.failures, JSON.stringify(c.failures)).toBeUndefined();
  const r = await h(kind).create(c.inputs);
  return { id: r.id, outs: r.outs as Props };
}

/** Deletes what a create returned. */
export async function destroy(kind: Kind, made: { id: string; outs: Props }): Promise<void> {
  await h(kind).delete(made.id, made.outs);
}

/** Refresh: what `pulumi refresh` records. */
export async function refresh(kind: Kind, made: { id: string; outs: Props }) {
  return h(kind).read(made.id, made.outs);
}

/**
 * NotrackRule programs: `n` rules on ports `base..base+n-1`, arriving (PREROUTING) udp. Each carries
 * the `owner` input the `NotrackRule` class sends (`project/stack/parent/name`, see `ownerOf`), as a
 * program's resources do: the handlers are driven as the engine drives them for a real program.
 */
export function notrackPrograms(host: string, backend: "iptables" | "nftables", n: number, base: number, prefix: string): Props[] {
  return Array.from({ length: n }, (_, i) => ({
    connection: connectionOf(host),
    ruleName: `${prefix}-${i}`,
    owner: `fault-tier/test//${prefix}-${i}`,
    chain: "PREROUTING",
    protocol: "udp",
    destinationPort: base + i,
    backend,
  }));
}

/** The NotrackRule backends the lab runs, and how a host is set up for each. */
export const BACKENDS = [
  { name: "iptables-nft", backend: "iptables" as const, alternative: "nft" as const, restore: "iptables-nft-restore" },
  { name: "iptables-legacy", backend: "iptables" as const, alternative: "legacy" as const, restore: "iptables-legacy-restore" },
  { name: "nftables", backend: "nftables" as const, alternative: "nft" as const, restore: "nft" },
];

/** The modules a lab ModuleBlacklist names: built into the lab kernel, so nothing is ever unloaded. */
export const LAB_MODULES = ["nf_conntrack_tftp", "nf_nat_tftp"];

/** A host-named error that says what happened (a regular expression over its message). */
export function expectErrorSaying(err: unknown, host: string, what: RegExp): void {
  expect(err, "the operation must fail").toBeInstanceOf(Error);
  const msg = (err as Error).message;
  expect(msg, msg).toContain(host);
  expect(msg, msg).toMatch(what);
}
