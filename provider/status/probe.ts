import { Client } from "ssh2";
import { UnreachableError } from "../errors";
import { fingerprintOf } from "../transport/hostkey";

/** The key a host presents: `type base64` and its `SHA256:` fingerprint. */
export interface PresentedKey {
  key: string;
  fingerprint: string;
}

/**
 * Learns the host key a host presents, ending the connection at key exchange: nothing is
 * authenticated and no credential is offered. Used to name an unknown key in a refusal and, with
 * `--accept-new`, to record the key before the real (pinned) connection is made, so that the
 * authenticated session is checked against exactly the key recorded.
 */
export function probeHostKey(host: string, port: number, timeoutSec: number): Promise<PresentedKey> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let presented: PresentedKey | undefined;
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      client.removeAllListeners();
      client.on("error", () => undefined);
      client.end();
      if (presented) resolve(presented);
      else reject(err ?? new Error("no host key received"));
    };
    client.on("error", (e) =>
      finish(presented ? undefined : new UnreachableError(e.message, { host: `${host}:${port}`, command: "ssh key exchange" })),
    );
    client.on("close", () => finish());
    client.connect({
      host,
      port,
      username: "probe",
      readyTimeout: timeoutSec * 1000,
      hostVerifier: (blob: Buffer) => {
        const typeLen = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
        presented = { key: `${blob.subarray(4, 4 + typeLen).toString()} ${blob.toString("base64")}`, fingerprint: fingerprintOf(blob) };
        // Refuse: the probe never goes on to authentication.
        return false;
      },
    });
    // As transport/dial.ts: without it each small key-exchange message waits for the host's delayed ACK.
    client.setNoDelay(true);
  });
}
