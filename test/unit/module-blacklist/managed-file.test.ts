import { describe, expect, it } from "vitest";
import { MANAGED_FILE_HEADER } from "../../../provider/common/markers";
import { blocksModule, parseManagedFile, renderManagedFile } from "../../../provider/resources/module-blacklist/managed-file";

describe("the managed file", () => {
  it("renders disable mode as install /bin/false plus blacklist, sorted, after the header", () => {
    const text = renderManagedFile(["nf_nat", "iptable_nat"], "disable", null);
    expect(text.split("\n")[0]).toBe(MANAGED_FILE_HEADER);
    expect(text.split("\n").filter((l) => !l.startsWith("#"))).toEqual([
      "install iptable_nat /bin/false",
      "blacklist iptable_nat",
      "install nf_nat /bin/false",
      "blacklist nf_nat",
      "",
    ]);
    expect(text.endsWith("\n")).toBe(true);
  });

  it("renders blacklist mode as blacklist lines only, and says it is weak", () => {
    const text = renderManagedFile(["nf_conntrack"], "blacklist", null);
    expect(text.split("\n").filter((l) => !l.startsWith("#"))).toEqual(["blacklist nf_conntrack", ""]);
    expect(text).toContain("still load it");
  });

  it("carries a replaced file in a comment and reads it back", () => {
    const replaced = { mode: "600", base64: Buffer.from("blacklist x\n\u00e9").toString("base64") };
    const parsed = parseManagedFile(renderManagedFile(["nf_conntrack"], "disable", replaced));
    expect(parsed.managed).toBe(true);
    expect(parsed.replaced).toEqual(replaced);
    expect(blocksModule(parsed, "nf_conntrack", "disable")).toBe(true);
  });

  it("parses what modprobe would: first install wins, '-' is '_', continuations joined, comments skipped", () => {
    const p = parseManagedFile(
      "# x\ninstall nf-conntrack /bin/true\ninstall nf_conntrack /bin/false\nblacklist \\\n nf_nat\n  # blacklist ignored\n",
    );
    expect(p.managed).toBe(false);
    expect(p.install.get("nf_conntrack")).toBe("/bin/true");
    expect([...p.blacklist]).toEqual(["nf_nat"]);
    expect(blocksModule(p, "nf_conntrack", "disable")).toBe(false);
    expect(blocksModule(p, "nf_nat", "blacklist")).toBe(true);
    expect(blocksModule(p, "nf_nat", "disable")).toBe(false);
  });
});
