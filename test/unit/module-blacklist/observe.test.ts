import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { OBSERVE_SCRIPT, observeArgs } from "../../../provider/resources/module-blacklist/observe";
import { parseObservation } from "../../../provider/resources/module-blacklist/observation";

/** What the VM printed after `iptables-legacy -t nat -L`, trimmed. */
const VM_OUTPUT = `@@ctk facts
kernel=5.10.0-32-amd64
uid=0
bin.modprobe=/usr/sbin/modprobe
nf_conntrack=loaded
os.ID=debian
os.VERSION_ID=11
@@ctk kernel
modules_supported=1
builtin_list=1
dep_list=1
@@ctk modules
iptable_nat\t1\t1\t0\t1
nf_conntrack\t1\t1\t0\t1
unix\t1\t0\t1\t0
nf_conntrak\t0\t0\t0\t0
@@ctk loaded
iptable_nat\tlive\t0\t
nf_conntrack\tlive\t1\t nf_nat
nf_nat\tlive\t1\t iptable_nat
libcrc32c\tlive\t2\t nf_nat nf_conntrack
weird\tlive\t-1\t
@@ctk file
kind=file
stat=600 1764100000
hex=23206d650a696e7374616c6c206e665f636f6e6e747261636b202f62696e2f66616c7365
@@ctk config
blacklist evbug
install nf_conntrack /bin/false
config_ok=1
@@ctk initramfs
tool=update-initramfs
image=/boot/initrd.img-5.10.0-32-amd64
image_mtime=1764000000
listed=1
contains=nf_conntrack
has_file=1
@@ctk notrack
nft\tudp dport 53 notrack comment "pulumi-conntrack:x"
`;

describe("parseObservation", () => {
  const o = parseObservation(VM_OUTPUT);
  it("reads modules by exact name: loaded, built in, available", () => {
    expect(o.modulesSupported).toBe(true);
    expect([...o.modules.values()]).toEqual([
      { name: "iptable_nat", loaded: true, builtIn: false, available: true },
      { name: "nf_conntrack", loaded: true, builtIn: false, available: true },
      { name: "unix", loaded: false, builtIn: true, available: false },
      { name: "nf_conntrak", loaded: false, builtIn: false, available: false },
    ]);
  });

  it("reads the holder graph with use counts (none when the kernel cannot unload)", () => {
    expect(o.loaded.get("libcrc32c")).toEqual({ name: "libcrc32c", state: "live", refcnt: 2, holders: ["nf_conntrack", "nf_nat"] });
    expect(o.loaded.get("iptable_nat")).toEqual({ name: "iptable_nat", state: "live", refcnt: 0, holders: [] });
    expect(o.loaded.get("weird")!.refcnt).toBeNull();
  });

  it("reads the file's exact bytes, mode and time, the effective config, the initramfs and NotrackRules", () => {
    expect(o.file).toEqual({
      kind: "file",
      content: "# me\ninstall nf_conntrack /bin/false",
      base64: Buffer.from("# me\ninstall nf_conntrack /bin/false").toString("base64"),
      mode: "600",
      mtime: 1764100000,
    });
    expect(o.config!.install.get("nf_conntrack")).toBe("/bin/false");
    expect(o.config!.blacklist.has("evbug")).toBe(true);
    expect(o.initramfs).toEqual({
      tool: "update-initramfs",
      image: "/boot/initrd.img-5.10.0-32-amd64",
      imageExists: true,
      imageMtime: 1764000000,
      listed: true,
      contains: ["nf_conntrack"],
      hasFile: true,
    });
    expect(o.notrackRules).toEqual([{ source: "nft", rule: 'udp dport 53 notrack comment "pulumi-conntrack:x"' }]);
  });

  it("tells sections that were not asked for from empty ones", () => {
    const bare = parseObservation("@@ctk kernel\nmodules_supported=0\n@@ctk file\nkind=absent\n");
    expect(bare).toMatchObject({ modulesSupported: false, file: { kind: "absent" }, config: null, initramfs: null, notrackRules: null });
  });
});

describe("the observe script, run locally", () => {
  const dir = mkdtempSync(join(tmpdir(), "ctk-mb-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const observeLocal = (path: string) =>
    parseObservation(
      execFileSync(
        "sh",
        ["-c", OBSERVE_SCRIPT, "sh", ...observeArgs(path, ["nf_conntrack", "no_such_module_x"], { initramfs: false, notrack: false })],
        { encoding: "utf8" },
      ),
    );

  it("reads a file byte for byte, whatever it holds", () => {
    const bytes = Buffer.from([0x23, 0x20, 0xc3, 0xa9, 0x0a, 0x09, 0x27, 0x22, 0x24, 0x5c, 0x00, 0xff, 0x0a, 0x0a]);
    const f = join(dir, "x.conf");
    writeFileSync(f, bytes);
    chmodSync(f, 0o640);
    const o = observeLocal(f);
    expect(o.file).toMatchObject({ kind: "file", mode: "640", base64: bytes.toString("base64") });
    expect(o.modules.get("no_such_module_x")).toEqual({ name: "no_such_module_x", loaded: false, builtIn: false, available: false });
  });

  it("never reads through a symlink, and tells absent and directories apart", () => {
    symlinkSync("/etc/hostname", join(dir, "link.conf"));
    mkdirSync(join(dir, "dir.conf"));
    expect(observeLocal(join(dir, "link.conf")).file).toEqual({ kind: "other", what: "symlink" });
    expect(observeLocal(join(dir, "dir.conf")).file).toEqual({ kind: "other", what: "directory" });
    expect(observeLocal(join(dir, "none.conf")).file).toEqual({ kind: "absent" });
  });
});
