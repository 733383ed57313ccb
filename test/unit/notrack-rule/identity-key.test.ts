/** The key NotrackRule batches and shared reads run under: the complete connection identity. */
import { describe, expect, it } from "vitest";
import { ConnectionSchema } from "../../../provider/connection/schema";
import { connectionIdentity } from "../../../provider/transport/pool";

const base = ConnectionSchema.parse({ host: "192.0.2.7", privateKey: "k1", hostKey: "SHA256:" + "A".repeat(43) });

describe("connectionIdentity", () => {
  it("is the same for the same connection", () => {
    expect(connectionIdentity(ConnectionSchema.parse({ host: "192.0.2.7", privateKey: "k1", hostKey: "SHA256:" + "A".repeat(43) }))).toBe(
      connectionIdentity(base),
    );
  });

  it.each([
    ["hostKey", { hostKey: "SHA256:" + "B".repeat(43) }],
    ["no hostKey", { hostKey: undefined }],
    ["privateKey", { privateKey: "k2" }],
    ["password", { password: "p" }],
    ["privateKeyPassword", { privateKeyPassword: "p" }],
    ["agentSocketPath", { agentSocketPath: "/run/agent" }],
    ["user", { user: "admin" }],
    ["port", { port: 2222 }],
    ["sudo", { sudo: true }],
    ["proxy", { proxy: ConnectionSchema.shape.proxy.parse({ host: "192.0.2.1" }) }],
  ])("differs in %s", (_what, over) => {
    expect(connectionIdentity({ ...base, ...over } as typeof base)).not.toBe(connectionIdentity(base));
  });

  it("holds no secret in clear", () => {
    const id = connectionIdentity({ ...base, password: "hunter2-secret", privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----" });
    expect(id).not.toContain("hunter2");
    expect(id).not.toContain("BEGIN");
  });
});
