import { execFile } from "node:child_process";
import { Client } from "ssh2";
import type { BenchHost } from "./hosts";

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
            // As the package does (transport/dial.ts): with Nagle's algorithm on, ssh2 waits for
            // the host's delayed ACK before sending the exec request, which is no floor.
            c.setNoDelay(true);
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
