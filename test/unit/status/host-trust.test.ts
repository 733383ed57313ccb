import { describe, expect, it } from "vitest";
import { afterMismatch, afterProbe, firstStep, trustLabel, type TrustContext } from "../../../provider/status/host-trust";
import type { KnownHostEntry, KnownKeys } from "../../../provider/status/known-hosts";

const FILE = "/home/op/.ssh/known_hosts";

function entry(fingerprint: string, type = "ssh-ed25519", line = 1, marker: KnownHostEntry["marker"] = null): KnownHostEntry {
  return { line, marker, hosts: "h1", key: `${type} AAAA${fingerprint}`, fingerprint };
}

function ctx(known: Partial<KnownKeys> = {}, port = 22): TrustContext {
  return {
    host: "h1",
    port,
    label: trustLabel("h1", port),
    file: FILE,
    known: { keys: [], revoked: [], certAuthorities: [], ...known },
  };
}

describe("trustLabel", () => {
  it("names a host as OpenSSH does", () => {
    expect(trustLabel("h1", 22)).toBe("h1");
    expect(trustLabel("h1", 2222)).toBe("[h1]:2222");
  });
});

describe("firstStep", () => {
  it("connects pinned to the preferred key that is not revoked", () => {
    const c = ctx({
      keys: [entry("SHA256:rsa", "ssh-rsa"), entry("SHA256:ed")],
      revoked: [entry("SHA256:ed", "ssh-ed25519", 3, "revoked")],
    });
    expect(firstStep(c)).toEqual({ kind: "connect", hostKey: "SHA256:rsa" });
    expect(firstStep(ctx({ keys: [entry("SHA256:rsa", "ssh-rsa"), entry("SHA256:ed")] }))).toEqual({
      kind: "connect",
      hostKey: "SHA256:ed",
    });
  });

  it("refuses when every known key is revoked", () => {
    const c = ctx({ keys: [entry("SHA256:ed")], revoked: [entry("SHA256:ed", "ssh-ed25519", 2, "revoked")] });
    expect(firstStep(c)).toEqual({ kind: "refuse", message: `every key known for h1 in ${FILE} is @revoked: refused` });
  });

  it("refuses a host known only through a certificate authority", () => {
    const s = firstStep(ctx({ certAuthorities: [entry("SHA256:ca", "ssh-ed25519", 1, "cert-authority")] }, 2222));
    expect(s).toEqual({
      kind: "refuse",
      message: `${FILE} trusts [h1]:2222 only through @cert-authority; host certificates are not supported by this command: add the host's key`,
    });
  });

  it("probes an unknown host", () => {
    expect(firstStep(ctx())).toEqual({ kind: "probe" });
  });
});

describe("afterMismatch", () => {
  const c = ctx({
    keys: [entry("SHA256:ed", "ssh-ed25519", 1), entry("SHA256:ec", "ecdsa-sha2-nistp256", 2)],
    revoked: [entry("SHA256:bad", "ssh-rsa", 3, "revoked")],
  });

  it("refuses a revoked key", () => {
    expect(afterMismatch(c, "SHA256:bad")).toEqual({
      kind: "refuse",
      message: `the host key SHA256:bad of h1 is marked @revoked in ${FILE}: refused`,
    });
  });

  it("connects pinned to another known key the host negotiated", () => {
    expect(afterMismatch(c, "SHA256:ec")).toEqual({ kind: "connect", hostKey: "SHA256:ec" });
  });

  it("refuses a changed key, naming the known ones and how to remove them", () => {
    expect(afterMismatch(c, "SHA256:new")).toEqual({
      kind: "refuse",
      message: `HOST KEY OF h1 HAS CHANGED: it presented SHA256:new, ${FILE} has ssh-ed25519 SHA256:ed (line 1), ecdsa-sha2-nistp256 SHA256:ec (line 2). Someone could be intercepting the connection, or the host was reinstalled; check, then remove the old entry (ssh-keygen -R h1 -f ${FILE})`,
    });
  });
});

describe("afterProbe", () => {
  const presented = {
    fingerprint: "SHA256:JX78jJsJ7DnCASGE2Pcq9eMeDGKuch5OCC0Csd4A6VI",
    key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICRHdnOQ0eWdKJQigBPleqEbzOqK8cN2Pex7f9nn5y5E",
  };

  it("refuses a revoked key even with --accept-new", () => {
    const c = ctx({ revoked: [entry(presented.fingerprint, "ssh-ed25519", 1, "revoked")] });
    expect(afterProbe(c, presented, true)).toEqual({
      kind: "refuse",
      message: `the host key ${presented.fingerprint} of h1 is marked @revoked in ${FILE}: refused`,
    });
  });

  it("refuses an unknown key without --accept-new, saying how to add it", () => {
    expect(afterProbe(ctx({}, 2222), presented, false)).toEqual({
      kind: "refuse",
      message: `[h1]:2222 is not in ${FILE} (it presents ${presented.fingerprint}); verify the key, then add it (ssh-keyscan) or run again with --accept-new to trust it on first use`,
    });
  });

  it("accepts it with --accept-new: the line to append and the note", () => {
    expect(afterProbe(ctx(), presented, true)).toEqual({
      kind: "accept",
      hostKey: presented.fingerprint,
      line: `h1 ${presented.key}\n`,
      note: `h1: accepted new host key ${presented.fingerprint} and added it to ${FILE}`,
    });
  });
});
