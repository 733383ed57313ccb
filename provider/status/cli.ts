#!/usr/bin/env node
/**
 * `pulumi-conntrack status`: one row per host of its conntrack table (see {@link renderTable}),
 * read over SSH with the same transport as the resources: one connection and one command per host,
 * hosts in parallel with a bound, unreachable hosts reported while the rest are printed. Host keys
 * are checked against known_hosts as OpenSSH does (hashed entries, patterns, `@revoked`); an unknown
 * key is refused unless `--accept-new` (trust on first use: the key is appended and the session
 * pinned to it).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";
import type { Connection } from "../connection/schema";
import { HostKeyMismatchError } from "../errors";
import { closeAll } from "../transport/pool";
import { probeHostKey } from "./probe";
import { parseConnection, readHostStatus } from "./collect";
import { parseHostArg, parseInventory, type InventoryHost } from "./inventory";
import { byPreference, knownHostsLine, lookupHost, parseKnownHosts, type KnownHostEntry } from "./known-hosts";
import type { HostStatus } from "./parse";
import { DEFAULT_WARN_AT, exitCodeOf, renderJson, renderTable, type StatusRow } from "./render";

/** Exit code of a usage error (sysexits `EX_USAGE`). */
export const EXIT_USAGE = 64;

const USAGE = `usage: pulumi-conntrack status (--hosts a,b[:port],... | --inventory hosts.yaml) [options]

  --user NAME          login user (default root)
  --key FILE           private key (default: the ssh agent in SSH_AUTH_SOCK)
  --port N             sshd port (default 22)
  --sudo               run through sudo -n (a non-root user with passwordless sudo)
  --known-hosts FILE   default ~/.ssh/known_hosts
  --accept-new         accept and record the key of a host not in known_hosts (trust on first use)
  --json               machine-readable output
  --warn-at PERCENT    exit 1 when a host's table is fuller than this (default 75)
  --parallel N         hosts read at once (default 16)
  --connect-timeout S  seconds per connection attempt (default 10; 2 attempts)

exit status: 0 all hosts read and below --warn-at; bit 1 a host above --warn-at; bit 2 a host
could not be read (unreachable, refused host key, command failed); ${EXIT_USAGE} usage error.
`;

/** Parsed command line. */
export interface StatusOptions {
  hosts: InventoryHost[];
  user: string;
  key?: string;
  port: number;
  sudo: boolean;
  knownHosts: string;
  acceptNew: boolean;
  json: boolean;
  warnAt: number;
  parallel: number;
  connectTimeout: number;
}

function expandHome(p: string): string {
  return p === "~" || p.startsWith("~/") ? path.join(homedir(), p.slice(1)) : p;
}

class UsageError extends Error {}

const VALUE_OPTIONS = new Set([
  "--hosts",
  "--inventory",
  "--user",
  "--key",
  "--port",
  "--known-hosts",
  "--parallel",
  "--connect-timeout",
  "--warn-at",
]);

/** Parses `status` arguments (after the word `status`). Throws {@link UsageError} with what is wrong. */
export function parseArgs(argv: readonly string[]): StatusOptions {
  const o: Partial<StatusOptions> & { inventory?: string; hostsArg?: string } = {};
  const flags = new Set(["--sudo", "--accept-new", "--json"]);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    let name = a;
    let value: string | undefined;
    const eq = a.indexOf("=");
    if (a.startsWith("--") && eq > 0) {
      name = a.slice(0, eq);
      value = a.slice(eq + 1);
    }
    if (flags.has(name)) {
      if (name === "--sudo") o.sudo = true;
      if (name === "--accept-new") o.acceptNew = true;
      if (name === "--json") o.json = true;
      continue;
    }
    if (!VALUE_OPTIONS.has(name)) throw new UsageError(`unknown option ${a}`);
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
    }
    const int = (min: number) => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} must be an integer >= ${min}, got ${value}`);
      return n;
    };
    switch (name) {
      case "--hosts":
        o.hostsArg = value;
        break;
      case "--inventory":
        o.inventory = value;
        break;
      case "--user":
        o.user = value;
        break;
      case "--key":
        o.key = value;
        break;
      case "--port":
        o.port = int(1);
        break;
      case "--known-hosts":
        o.knownHosts = value;
        break;
      case "--parallel":
        o.parallel = int(1);
        break;
      case "--connect-timeout":
        o.connectTimeout = int(1);
        break;
      case "--warn-at": {
        const n = Number(value.replace(/%$/, ""));
        if (!Number.isFinite(n) || n < 0 || n > 100) throw new UsageError(`--warn-at must be a percentage from 0 to 100, got ${value}`);
        o.warnAt = n / 100;
        break;
      }
      default:
        throw new UsageError(`unknown option ${a}`);
    }
  }
  if (!o.hostsArg === !o.inventory) throw new UsageError("give --hosts or --inventory (one of them)");
  let hosts: InventoryHost[];
  let defaults: Partial<InventoryHost> = {};
  if (o.inventory) {
    const inv = parseInventory(readFileSync(expandHome(o.inventory), "utf8"));
    hosts = inv.hosts;
    defaults = { user: inv.user, key: inv.key, port: inv.port, sudo: inv.sudo };
  } else {
    hosts = o
      .hostsArg!.split(",")
      .map((s) => s.trim())
      .filter(Boolean)
      .map(parseHostArg);
    if (hosts.length === 0) throw new UsageError("--hosts lists no host");
  }
  return {
    hosts,
    user: o.user ?? defaults.user ?? "root",
    key: o.key ?? defaults.key,
    port: o.port ?? defaults.port ?? 22,
    sudo: o.sudo ?? defaults.sudo ?? false,
    knownHosts: expandHome(o.knownHosts ?? "~/.ssh/known_hosts"),
    acceptNew: o.acceptNew ?? false,
    json: o.json ?? false,
    warnAt: o.warnAt ?? DEFAULT_WARN_AT,
    parallel: o.parallel ?? 16,
    connectTimeout: o.connectTimeout ?? 10,
  };
}

/** Refusals about host keys: said like OpenSSH says them, with what to do. */
class HostKeyRefusal extends Error {}

interface Trust {
  entries: KnownHostEntry[];
  file: string;
  acceptNew: boolean;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0];
}

/** Reads one host with its key checked against known_hosts. */
async function readTrusted(base: Connection, trust: Trust, acceptedNotes: string[]): Promise<HostStatus> {
  const known = lookupHost(trust.entries, base.host, base.port);
  const revoked = new Set(known.revoked.map((e) => e.fingerprint));
  const label = base.port === 22 ? base.host : `[${base.host}]:${base.port}`;
  const candidates = byPreference(known.keys).filter((e) => !revoked.has(e.fingerprint));
  if (candidates.length > 0) {
    try {
      return await readHostStatus({ ...base, hostKey: candidates[0].fingerprint });
    } catch (e) {
      if (!(e instanceof HostKeyMismatchError)) throw e;
      if (revoked.has(e.observed))
        throw new HostKeyRefusal(`the host key ${e.observed} of ${label} is marked @revoked in ${trust.file}: refused`);
      // The host has several keys and negotiated another known one: that one is trusted too.
      if (candidates.some((c) => c.fingerprint === e.observed)) return readHostStatus({ ...base, hostKey: e.observed });
      const lines = known.keys.map((k) => `${k.key.split(" ")[0]} ${k.fingerprint} (line ${k.line})`).join(", ");
      throw new HostKeyRefusal(
        `HOST KEY OF ${label} HAS CHANGED: it presented ${e.observed}, ${trust.file} has ${lines}. Someone could be intercepting the connection, or the host was reinstalled; check, then remove the old entry (ssh-keygen -R ${label} -f ${trust.file})`,
      );
    }
  }
  if (known.keys.length > 0) throw new HostKeyRefusal(`every key known for ${label} in ${trust.file} is @revoked: refused`);
  if (known.certAuthorities.length > 0)
    throw new HostKeyRefusal(
      `${trust.file} trusts ${label} only through @cert-authority; host certificates are not supported by this command: add the host's key`,
    );
  const presented = await probeHostKey(base.host, base.port, base.perDialTimeout || 10);
  if (revoked.has(presented.fingerprint))
    throw new HostKeyRefusal(`the host key ${presented.fingerprint} of ${label} is marked @revoked in ${trust.file}: refused`);
  if (!trust.acceptNew) {
    throw new HostKeyRefusal(
      `${label} is not in ${trust.file} (it presents ${presented.fingerprint}); verify the key, then add it (ssh-keyscan) or run again with --accept-new to trust it on first use`,
    );
  }
  // Trust on first use, as OpenSSH's StrictHostKeyChecking=accept-new: the key presented now is
  // recorded, and the session is pinned to it (a different key on the real connection is refused).
  const line = knownHostsLine(base.host, base.port, presented.key);
  mkdirSync(path.dirname(trust.file), { recursive: true, mode: 0o700 });
  appendFileSync(trust.file, line, { mode: 0o600 });
  trust.entries.push(...parseKnownHosts(line));
  acceptedNotes.push(`${label}: accepted new host key ${presented.fingerprint} and added it to ${trust.file}`);
  return readHostStatus({ ...base, hostKey: presented.fingerprint });
}

/** Runs `fn` over `items` with at most `limit` at once, keeping the order of results. */
export async function boundedMap<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Reads every host and returns the rows (never throws for a host's failure) and notes about keys accepted. */
export async function collectRows(o: StatusOptions): Promise<{ rows: StatusRow[]; notes: string[] }> {
  const trust: Trust = {
    entries: existsSync(o.knownHosts) ? parseKnownHosts(readFileSync(o.knownHosts, "utf8")) : [],
    file: o.knownHosts,
    acceptNew: o.acceptNew,
  };
  const keys = new Map<string, string>();
  const notes: string[] = [];
  const rows = await boundedMap(o.hosts, o.parallel, async (h): Promise<StatusRow> => {
    const port = h.port ?? o.port;
    const name = port === 22 ? h.host : `${h.host}:${port}`;
    try {
      const keyFile = h.key ?? o.key;
      let privateKey: string | undefined;
      if (keyFile) {
        const p = expandHome(keyFile);
        if (!keys.has(p)) keys.set(p, readFileSync(p, "utf8"));
        privateKey = keys.get(p);
      }
      const conn = parseConnection({
        host: h.host,
        port,
        user: h.user ?? o.user,
        sudo: h.sudo ?? o.sudo,
        dialErrorLimit: 2,
        perDialTimeout: o.connectTimeout,
        ...(privateKey ? { privateKey } : {}),
      });
      return { host: name, ok: true, status: await readTrusted(conn, trust, notes) };
    } catch (e) {
      return { host: name, ok: false, error: firstLine(e) };
    }
  });
  return { rows, notes };
}

/** The command: prints and returns the exit code. */
export async function main(
  argv: readonly string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  if (argv[0] === "--help" || argv[0] === "-h" || argv.length === 0) {
    out(USAGE);
    return argv.length === 0 ? EXIT_USAGE : 0;
  }
  if (argv[0] !== "status") {
    err(`unknown command ${argv[0]}\n${USAGE}`);
    return EXIT_USAGE;
  }
  let o: StatusOptions;
  try {
    o = parseArgs(argv.slice(1));
  } catch (e) {
    err(`pulumi-conntrack status: ${(e as Error).message}\n${USAGE}`);
    return EXIT_USAGE;
  }
  try {
    const { rows, notes } = await collectRows(o);
    out(o.json ? renderJson(rows, o.warnAt) : renderTable(rows, o.warnAt));
    for (const n of notes) err(`${n}\n`);
    return exitCodeOf(rows, o.warnAt);
  } finally {
    await closeAll();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`pulumi-conntrack: ${(e as Error).stack ?? e}\n`);
      process.exit(70);
    },
  );
}
