import { describe, expect, it } from "vitest";
import {
  byPreference,
  hostFieldMatches,
  knownHostName,
  knownHostsLine,
  lookupHost,
  parseKnownHosts,
} from "../../../provider/status/known-hosts";

const ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICRHdnOQ0eWdKJQigBPleqEbzOqK8cN2Pex7f9nn5y5E";
const ED_FP = "SHA256:JX78jJsJ7DnCASGE2Pcq9eMeDGKuch5OCC0Csd4A6VI";
const ECDSA =
  "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBD6S5gAV6sjxZn6GrT+w5908FZVo+Mh7VPiLQlNLitpN4pD+Als5ArFBPUTwnKvO+2em8TeyOh7KAFIi993XW/M=";

// Written by `ssh-keygen -H` from "ctlab15 <ED>" and "[10.0.0.7]:2222 <ED>".
const HASHED_CTLAB15 = `|1|Qsw6FTAbzwuQNNySIhhgJ59rQVs=|HebP3FcaLrrbi8hJvpRVdnw1T4A= ${ED}`;
const HASHED_PORT = `|1|/jNbdBTgPu86u6WdttQiRZIjXmc=|JYy+6GhHY+spwbaEl/OrF7yAclE= ${ED}`;

describe("known_hosts matching as OpenSSH does it", () => {
  it("names a host as ssh records it: bare on port 22, [host]:port otherwise, lower case", () => {
    expect(knownHostName("CtLab15", 22)).toBe("ctlab15");
    expect(knownHostName("10.0.0.7", 2222)).toBe("[10.0.0.7]:2222");
    expect(knownHostsLine("10.0.0.7", 2222, `${ED} root@vm`)).toBe(`[10.0.0.7]:2222 ${ED}\n`);
  });

  it("matches hashed entries written by ssh-keygen -H, and only for their own name and port", () => {
    expect(hostFieldMatches(HASHED_CTLAB15.split(" ")[0], "ctlab15")).toBe(true);
    expect(hostFieldMatches(HASHED_CTLAB15.split(" ")[0], "ctlab16")).toBe(false);
    expect(hostFieldMatches(HASHED_PORT.split(" ")[0], "[10.0.0.7]:2222")).toBe(true);
    expect(hostFieldMatches(HASHED_PORT.split(" ")[0], "10.0.0.7")).toBe(false);
    const e = parseKnownHosts(`${HASHED_CTLAB15}\n${HASHED_PORT}\n`);
    expect(lookupHost(e, "ctlab15", 22).keys.map((k) => k.fingerprint)).toEqual([ED_FP]);
    expect(lookupHost(e, "10.0.0.7", 2222).keys.map((k) => k.line)).toEqual([2]);
    expect(lookupHost(e, "10.0.0.7", 22).keys).toEqual([]);
  });

  it("matches comma lists, wildcards and negations; a matching negation excludes the line", () => {
    expect(hostFieldMatches("a.example,10.0.0.1", "10.0.0.1")).toBe(true);
    expect(hostFieldMatches("*.example.org", "db1.example.org")).toBe(true);
    expect(hostFieldMatches("db?.example.org", "db12.example.org")).toBe(false);
    expect(hostFieldMatches("*.example.org,!bastion.example.org", "bastion.example.org")).toBe(false);
    expect(hostFieldMatches("!bastion.example.org", "db1.example.org")).toBe(false);
    expect(hostFieldMatches("10.0.0.1", "10.0.0.10")).toBe(false);
    expect(hostFieldMatches("[10.0.0.1]:2222", "[10.0.0.1]:2222")).toBe(true);
  });

  it("skips comments, blank and broken lines; reads @revoked and @cert-authority markers", () => {
    const e = parseKnownHosts(
      `# comment\n\nhost1 ssh-ed25519 notbase64!\nhost1 ${ED}\n@revoked * ${ECDSA}\n@cert-authority *.example.org ${ED}\n@unknown host1 ${ED}\n`,
    );
    expect(e.map((x) => [x.line, x.marker])).toEqual([
      [4, null],
      [5, "revoked"],
      [6, "cert-authority"],
    ]);
    const k = lookupHost(e, "host1", 22);
    expect(k.keys).toHaveLength(1);
    expect(k.revoked).toHaveLength(1);
    expect(lookupHost(e, "db.example.org", 22).certAuthorities).toHaveLength(1);
  });

  it("orders known keys as ssh2 offers host key algorithms (ed25519 first)", () => {
    const e = parseKnownHosts(`h ${ECDSA}\nh ${ED}\n`);
    expect(byPreference(e).map((x) => x.key.split(" ")[0])).toEqual(["ssh-ed25519", "ecdsa-sha2-nistp256"]);
  });
});
