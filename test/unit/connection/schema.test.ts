import { describe, expect, it } from "vitest";
import { ConnectionSchema, hostLabel } from "../../../provider/connection/schema";

describe("connection input", () => {
  it("accepts what @pulumi/command's remote.ConnectionArgs accepts, with its defaults", () => {
    const c = ConnectionSchema.parse({ host: "db1.example.org", privateKey: "k", proxy: { host: "bastion", user: "jump" } });
    expect(c).toMatchObject({ port: 22, user: "root", dialErrorLimit: 10, perDialTimeout: 15, sudo: false });
    expect(c.proxy).toMatchObject({ host: "bastion", user: "jump", port: 22 });
    expect(hostLabel(c)).toBe("root@db1.example.org:22 via jump@bastion:22");
    expect(hostLabel(ConnectionSchema.parse({ host: "fd42::1" }))).toBe("root@[fd42::1]:22");
  });
  it("refuses hosts and users that could be misread as options or shell", () => {
    for (const host of ["-oProxyCommand=x", "a b", "h;id", "", "a\nb"]) expect(ConnectionSchema.safeParse({ host }).success).toBe(false);
    for (const user of ["-l", "a b", "$(id)"]) expect(ConnectionSchema.safeParse({ host: "h", user }).success).toBe(false);
    expect(ConnectionSchema.safeParse({ host: "h", port: 70000 }).success).toBe(false);
    expect(ConnectionSchema.safeParse({ host: "h", dialErrorLimit: -2 }).success).toBe(false);
  });
});
