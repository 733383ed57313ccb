import type { HostExec, LabHostInfo } from "./lab-hosts";
import type { StackState } from "./state";

/**
 * State written by an earlier release, kept as a fixture: the stack's state with the lab-specific
 * values replaced by placeholders, and what that release had left on each host, so that a test can
 * put both back and let today's code refresh and destroy them.
 */
export interface OldStateFixture {
  description: string;
  /** Package version that wrote it. */
  release: string;
  /** `stateVersion` of its outputs. */
  stateVersion: number;
  /** Lab hosts it was captured on, in the fixture's placeholder names. */
  hosts: string[];
  /** The state, secrets in plain wire form, with `{{<host>.address}}`, `{{<host>.hostKey}}`, `{{privateKey}}`. */
  state: StackState;
  /** What the release left on each host. */
  artifacts: Record<string, HostArtifacts>;
}

/** A host's objects as a release left them. */
export interface HostArtifacts {
  /** Path -> content of files under /etc/modprobe.d, /etc/iptables and /etc/nftables.conf. */
  files: Record<string, string>;
  /** `nft list table inet pulumi_conntrack`, or "" when there was none. */
  nftTable: string;
  /** `iptables-save -t raw` / `ip6tables-save -t raw`, or "" when they held no rule. */
  iptablesRaw: string;
  ip6tablesRaw: string;
}

/** Lab-specific strings and their placeholders. */
export function placeholders(hosts: LabHostInfo[], privateKey: string): [string, string][] {
  return [
    [privateKey, "{{privateKey}}"],
    ...hosts.flatMap((h): [string, string][] => [
      [h.hostKey, `{{${h.name}.hostKey}}`],
      [h.address, `{{${h.name}.address}}`],
    ]),
  ];
}

/** Replaces every occurrence of each pair's first string by its second, in a JSON-able value. */
export function substitute<T>(value: T, pairs: [string, string][]): T {
  let text = JSON.stringify(value);
  for (const [from, to] of pairs) text = text.split(JSON.stringify(from).slice(1, -1)).join(JSON.stringify(to).slice(1, -1));
  return JSON.parse(text) as T;
}

/** Reads what a release left on a host. */
export async function captureArtifacts(name: string, run: HostExec): Promise<HostArtifacts> {
  const sh = async (c: string) => (await run(name, ["bash", "-c", c])).stdout;
  const files: Record<string, string> = {};
  const list = await sh("find /etc/modprobe.d /etc/iptables /etc/nftables.conf -type f 2>/dev/null | LC_ALL=C sort");
  for (const f of list.split("\n").filter(Boolean)) files[f] = await sh(`cat ${JSON.stringify(f)}`);
  const withRules = (t: string) => (/^-A /m.test(t) ? t : "");
  return {
    files,
    nftTable: await sh("nft list table inet pulumi_conntrack 2>/dev/null || true"),
    iptablesRaw: withRules(await sh("iptables-save -t raw")),
    ip6tablesRaw: withRules(await sh("ip6tables-save -t raw")),
  };
}

/** Puts a release's objects back on a (reset) host, without the code under test. */
export async function restoreArtifacts(name: string, a: HostArtifacts, run: HostExec): Promise<void> {
  const must = async (argv: string[], input?: string) => {
    const r = await run(name, argv, input);
    if (r.code !== 0) throw new Error(`${name}: ${argv.join(" ")} failed: ${r.stderr}`);
  };
  for (const [f, content] of Object.entries(a.files)) await must(["bash", "-c", `cat > ${JSON.stringify(f)}`], content);
  if (a.nftTable) await must(["nft", "-f", "-"], a.nftTable);
  if (a.iptablesRaw) await must(["iptables-restore", "--noflush"], a.iptablesRaw);
  if (a.ip6tablesRaw) await must(["ip6tables-restore", "--noflush"], a.ip6tablesRaw);
}
