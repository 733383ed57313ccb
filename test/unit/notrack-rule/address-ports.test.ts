import { describe, expect, it } from "vitest";
import { canonicalCidr, cidrContains, parseAddress, parseCidr } from "../../../provider/resources/notrack-rule/syntax/address";
import { nftPort, parsePort, portOverlaps } from "../../../provider/resources/notrack-rule/syntax/ports";

describe("addresses in the form iptables and nft print them", () => {
  it("IPv4: host bits cleared, /32 is the bare address, /0 is no restriction, dotted masks", () => {
    expect(canonicalCidr("10.1.2.3/8")).toBe("10.0.0.0/8");
    expect(canonicalCidr("192.0.2.9/32")).toBe("192.0.2.9");
    expect(canonicalCidr("192.0.2.9")).toBe("192.0.2.9");
    expect(canonicalCidr("0.0.0.0/0")).toBeUndefined();
    expect(canonicalCidr("10.1.2.3/255.255.0.0")).toBe("10.1.0.0/16");
    expect(parseCidr("10.1.2.3/255.0.255.0")).toBeUndefined();
    for (const bad of ["10.0.0.256", "01.2.3.4", "1.2.3", "1.2.3.4/33", "1.2.3.4/", "a.b.c.d"]) expect(parseCidr(bad), bad).toBeUndefined();
  });

  it("IPv6: RFC 5952 text, glibc's embedded IPv4 form, prefixes", () => {
    expect(canonicalCidr("2001:DB8:0:0:0:0:0:1")).toBe("2001:db8::1");
    expect(canonicalCidr("2001:db8::1/128")).toBe("2001:db8::1");
    expect(canonicalCidr("2001:db8:1:2::5/32")).toBe("2001:db8::/32");
    expect(canonicalCidr("fd42:c7:0:0::16")).toBe("fd42:c7::16");
    expect(canonicalCidr("::")).toBe("::");
    expect(canonicalCidr("::1")).toBe("::1");
    expect(canonicalCidr("::ffff:192.0.2.1")).toBe("::ffff:192.0.2.1");
    expect(canonicalCidr("1:0:0:1:0:0:0:1")).toBe("1:0:0:1::1");
    expect(canonicalCidr("1:0:1:1:1:1:1:1")).toBe("1:0:1:1:1:1:1:1");
    expect(canonicalCidr("::/0")).toBeUndefined();
    for (const bad of ["::1::2", "1:2:3:4:5:6:7:8:9", "12345::", "fe80::1%eth0", ":::", "2001:db8::/129"])
      expect(parseCidr(bad), bad).toBeUndefined();
  });

  it("containment by family", () => {
    const c = parseCidr("10.213.0.0/24")!;
    expect(cidrContains(c, "ipv4", parseAddress("10.213.0.16")!.value)).toBe(true);
    expect(cidrContains(c, "ipv4", parseAddress("10.213.1.16")!.value)).toBe(false);
    expect(cidrContains(c, "ipv6", parseAddress("::a:d500:10")!.value)).toBe(false);
  });
});

describe("ports", () => {
  it("one port is a number, a range is lo:hi; nft spells ranges lo-hi", () => {
    expect(parsePort(53)).toEqual({ ok: true, value: 53 });
    expect(parsePort("53")).toEqual({ ok: true, value: 53 });
    expect(parsePort("1024-65535")).toEqual({ ok: true, value: "1024:65535" });
    expect(parsePort("53:53")).toEqual({ ok: true, value: 53 });
    expect(parsePort("0:65535")).toEqual({ ok: true, value: "0:65535" });
    expect(parsePort("54:53")).toMatchObject({ ok: false, reason: expect.stringMatching(/inverted/) });
    for (const bad of [65536, -1, 2.5, "65536", "1:65536", "", "x", "053", "1,2", null, true])
      expect(parsePort(bad).ok, String(bad)).toBe(false);
    expect(nftPort("1024:65535")).toBe("1024-65535");
    expect(portOverlaps("1:1023", 1024, 65535)).toBe(false);
    expect(portOverlaps("1:1024", 1024, 65535)).toBe(true);
  });
});
