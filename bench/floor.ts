import { execFile } from "node:child_process";
import * as path from "node:path";
import { Client } from "ssh2";
import type { BenchHost } from "./hosts";
import type { BenchResource } from "./program";

type Props = Record<string, unknown>;

/**
 * The raw SSH floor: per host, one fresh connection and one `true`, all hosts at once. Nothing that
 * changes a host can cost less than touching it once.
 */
export async function ssh2Floor(hosts: readonly BenchHost[], privateKey: string): Promise<number> {
  const started = performance.now();
  await Promise.all(
    hosts.map(
      (h) =>
        new Promise<void>((resolve, reject) => {
          const c = new Client();
          c.on("ready", () => {
            c.exec("true", (err, stream) => {
              if (err) return reject(err);
              stream.on("close", () => {
                c.end();
                resolve();
              });
              stream.resume();
            });
          });
          c.on("error", reject);
          c.connect({ host: h.address, username: "root", privateKey });
          // As the package does (transport/dial.ts), from the handshake on: with Nagle's algorithm
          // on, ssh2's small handshake messages and the exec request wait for the host's delayed
          // ACK, which is no floor.
          c.setNoDelay(true);
        }),
    ),
  );
  return performance.now() - started;
}

/** The same floor with the OpenSSH client (what Ansible uses underneath). */
export async function opensshFloor(hosts: readonly BenchHost[], keyPath: string, knownHosts: string): Promise<number> {
  const started = performance.now();
  await Promise.all(
    hosts.map(
      (h) =>
        new Promise<void>((resolve, reject) =>
          execFile(
            "ssh",
            ["-i", keyPath, "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "BatchMode=yes", `root@${h.address}`, "true"],
            (err) => (err ? reject(err) : resolve()),
          ),
        ),
    ),
  );
  return performance.now() - started;
}

/**
 * The read floor: per host, what a `refresh` asks of it through this package, all hosts at once and
 * without the engine: one fresh connection, and the three kinds' observe scripts of the benchmark's
 * program side by side on one channel (the package's own transport, as its reads gather them). Its
 * ratio to a phase is what bounded parallelism, gRPC and the handlers add to the hosts' own work;
 * on a machine whose cores the lab hosts share, the hosts' work is most of the floor.
 */
export async function readFloor(program: readonly BenchResource[]): Promise<number> {
  const dist = path.join(__dirname, "..", "dist", "provider");
  const runtime = await import(path.join(dist, "runtime", "index.js"));
  const { ConnectionSchema } = await import(path.join(dist, "connection", "schema.js"));
  const helper = await import(path.join(dist, "resources", "helper-setting", "observe.js"));
  const notrack = await import(path.join(dist, "resources", "notrack-rule", "observe.js"));
  const blacklist = await import(path.join(dist, "resources", "module-blacklist", "observe.js"));
  const { managedPath } = await import(path.join(dist, "resources", "module-blacklist", "observation.js"));
  const { needsNotrackCheck } = await import(path.join(dist, "resources", "module-blacklist", "kind.js"));
  // The inputs as the provider sees them after Check (defaults filled in), one set per host.
  const hosts = new Map<string, { helper?: Props; blacklist?: Props }>();
  for (const r of program) {
    const short = r.type.split(":").pop() as string;
    if (short === "NotrackRule") continue;
    const c = await runtime.handler(short).check({}, r.inputs);
    const host = String((r.inputs.connection as Props).host);
    const h = hosts.get(host) ?? {};
    if (short === "ConntrackHelperSetting") h.helper = c.inputs;
    else h.blacklist = c.inputs;
    hosts.set(host, h);
  }
  await runtime.closeAll();
  runtime.resetSnapshots();
  const started = performance.now();
  await Promise.all(
    [...hosts.values()].map((h) => {
      const conn = ConnectionSchema.parse((h.helper ?? h.blacklist)?.connection);
      const b = h.blacklist as Props & { modules: string[]; fileName: string; initramfs: string };
      return Promise.all([
        helper.observe(conn, (h.helper as Props).fileName, { shared: "read" }),
        notrack.observe(conn, "ipv4", undefined, { shared: "read" }),
        blacklist.observe(conn, managedPath(b.fileName), b.modules, {
          initramfs: b.initramfs === "never",
          notrack: needsNotrackCheck(b.modules),
          shared: "read",
        }),
      ]);
    }),
  );
  const ms = performance.now() - started;
  await runtime.closeAll();
  runtime.resetSnapshots();
  return ms;
}
