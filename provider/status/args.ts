/**
 * The command line of `pulumi-conntrack status`: usage, options, and what to run or refuse, decided
 * without a host (the I/O is in `cli.ts`).
 */
import * as path from "node:path";
import { parseHostArg, parseInventory, type InventoryHost } from "./inventory";
import { DEFAULT_WARN_AT } from "./render";

/** Exit code of a usage error (sysexits `EX_USAGE`). */
export const EXIT_USAGE = 64;

/** The usage text. */
export const USAGE = `usage: pulumi-conntrack status (--hosts a,b[:port],... | --inventory hosts.yaml) [options]

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

/** What parsing needs from the machine, passed in so that parsing stays pure. */
export interface ArgsEnvironment {
  /** The user's home directory, for `~` in paths. */
  home: string;
  /** Reads a text file (the `--inventory` file). */
  readText(file: string): string;
}

/** `~` and `~/...` in `home`. */
export function expandHome(p: string, home: string): string {
  return p === "~" || p.startsWith("~/") ? path.join(home, p.slice(1)) : p;
}

/** A command line this command cannot run: said with the usage text, exit {@link EXIT_USAGE}. */
export class UsageError extends Error {}

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

/**
 * Parses `status` arguments (after the word `status`). Throws {@link UsageError} with what is wrong.
 * Pure but for `env.readText` (the inventory file).
 */
export function parseStatusArgs(argv: readonly string[], env: ArgsEnvironment): StatusOptions {
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
    const inv = parseInventory(env.readText(expandHome(o.inventory, env.home)));
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
    knownHosts: expandHome(o.knownHosts ?? "~/.ssh/known_hosts", env.home),
    acceptNew: o.acceptNew ?? false,
    json: o.json ?? false,
    warnAt: o.warnAt ?? DEFAULT_WARN_AT,
    parallel: o.parallel ?? 16,
    connectTimeout: o.connectTimeout ?? 10,
  };
}

/** What the command line asks for, before anything is read from a host. */
export type Command =
  | { kind: "usage"; exitCode: number }
  | { kind: "refused"; message: string; exitCode: number }
  | { kind: "status"; options: StatusOptions };

/**
 * Decides the command line: help (exit 0, or {@link EXIT_USAGE} when nothing was given), an unknown
 * command or a usage error (exit {@link EXIT_USAGE}, with the message to print before the usage), or
 * `status` with its options. Never throws.
 */
export function commandOf(argv: readonly string[], env: ArgsEnvironment): Command {
  if (argv[0] === "--help" || argv[0] === "-h" || argv.length === 0) return { kind: "usage", exitCode: argv.length === 0 ? EXIT_USAGE : 0 };
  if (argv[0] !== "status") return { kind: "refused", message: `unknown command ${argv[0]}`, exitCode: EXIT_USAGE };
  try {
    return { kind: "status", options: parseStatusArgs(argv.slice(1), env) };
  } catch (e) {
    // An unreadable or invalid inventory, or a bad host in --hosts, is a usage error too.
    return { kind: "refused", message: `pulumi-conntrack status: ${(e as Error).message}`, exitCode: EXIT_USAGE };
  }
}
