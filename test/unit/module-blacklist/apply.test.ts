import { describe, expect, it } from "vitest";
import { parseApplyOutput } from "../../../provider/resources/module-blacklist/apply";

const CLOSING =
  "@@ctk kernel\nmodules_supported=1\n@@ctk modules\nnf_conntrack\t1\t1\t0\t1\n@@ctk loaded\nnf_conntrack\tlive\t1\t nf_nat\n@@ctk file\nkind=absent\n";

describe("parseApplyOutput", () => {
  it("reads a conflict found under the lock: nothing else ran", () => {
    const r = parseApplyOutput(
      `@@ctk apply.conflict\niptables-nft-save\t-A PREROUTING -m comment --comment "pulumi-conntrack:x" -j CT --notrack\n${CLOSING}`,
    );
    expect(r.conflict).toEqual([
      { source: "iptables-nft-save", rule: '-A PREROUTING -m comment --comment "pulumi-conntrack:x" -j CT --notrack' },
    ]);
    expect(r.fileError).toBeNull();
    expect(r.after.modules.get("nf_conntrack")!.loaded).toBe(true);
  });

  it("reads a failed write", () => {
    expect(parseApplyOutput(`@@ctk apply.file\nerror=mktemp: Read-only file system \n${CLOSING}`).fileError).toBe(
      "mktemp: Read-only file system ",
    );
  });

  it("reads a failed regeneration with its output", () => {
    const r = parseApplyOutput(
      `@@ctk apply.file\nok=1\n@@ctk apply.initramfs\nrc=1\nout=update-initramfs: Generating /boot/initrd.img-5.10\nout=E: mkinitramfs failure\n${CLOSING}`,
    );
    expect(r.fileError).toBeNull();
    expect(r.initramfs).toEqual({ exitCode: 1, output: "update-initramfs: Generating /boot/initrd.img-5.10\nE: mkinitramfs failure" });
  });

  it("reads per-module unload outcomes and what was loaded before", () => {
    const r = parseApplyOutput(
      `@@ctk apply.file\nok=1\n@@ctk apply.before\niptable_nat\nnf_nat\nnf_conntrack\n@@ctk apply.unload\niptable_nat\tremoved\t\nnf_nat\tgone\t\nnf_conntrack\tfailed\tmodprobe: FATAL: Module nf_conntrack is in use.\nxt_CT\tskipped\t\n${CLOSING}`,
    );
    expect(r.loadedBefore).toEqual(["iptable_nat", "nf_nat", "nf_conntrack"]);
    expect(r.unload).toEqual([
      { module: "iptable_nat", outcome: "removed", message: "" },
      { module: "nf_nat", outcome: "gone", message: "" },
      { module: "nf_conntrack", outcome: "failed", message: "modprobe: FATAL: Module nf_conntrack is in use." },
      { module: "xt_CT", outcome: "skipped", message: "" },
    ]);
  });

  it("treats output without a file step as a failure, never as success", () => {
    expect(parseApplyOutput(CLOSING).fileError).toBe("the file step did not run");
  });
});
