// Proves the real-kernel VM tier: a modular 5.10 kernel where nf_conntrack can be loaded and
// unloaded, and where the pre-6.0 sysctl net.netfilter.nf_conntrack_helper still exists.
// Every test skips cleanly when the VM is not up. The VM is left as found (nf_conntrack unloaded).
import { describe, expect, it } from "vitest";
import { requireVm, shellQuote, vmExec } from "./inventory";

/** Runs a command in the VM and returns its trimmed stdout, failing the test on non-zero exit. */
async function run(argv: string[], stdin?: string): Promise<string> {
  const r = await vmExec(argv, stdin);
  if (r.code !== 0) {
    throw new Error(`${argv.join(" ")} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return r.stdout.trim();
}

async function conntrackLoaded(): Promise<boolean> {
  const r = await vmExec(["test", "-d", "/sys/module/nf_conntrack"]);
  return r.code === 0;
}

describe("real-kernel VM tier", () => {
  it("runs a bullseye 5.10 kernel, the one the inventory names", async () => {
    const vm = requireVm();
    const release = await run(["uname", "-r"]);
    expect(release.startsWith("5.10.")).toBe(true);
    expect(release).toBe(vm.kernelRelease);
    expect(await run(["hostname"])).toBe("ctvm");
  });

  it("passes arguments and stdin verbatim through vmExec", async () => {
    requireVm();
    const tricky = `it's a "$HOME" \`id\` ; | & * \\ \n done`;
    expect((await vmExec(["printf", "%s", tricky])).stdout).toBe(tricky);
    expect((await vmExec(["cat"], "line 1\nline 'two'\n")).stdout).toBe("line 1\nline 'two'\n");
    const r = await vmExec(["sh", "-c", "echo out; echo err >&2; exit 7"]);
    expect(r).toEqual({ code: 7, stdout: "out\n", stderr: "err\n" });
    expect(shellQuote("a'b")).toBe(`'a'\\''b'`);
  });

  it("has nf_conntrack as a loadable module, not loaded at boot", async () => {
    const vm = requireVm();
    const file = await run(["modinfo", "-n", "nf_conntrack"]);
    expect(file.startsWith(`/lib/modules/${vm.kernelRelease}/`)).toBe(true);
    expect(file).toMatch(/\/nf_conntrack\.ko(\.[gx]z)?$/);
    const builtin = await run(["cat", `/lib/modules/${vm.kernelRelease}/modules.builtin`]);
    expect(builtin.split("\n").filter((l) => /\/nf_conntrack\.ko$/.test(l))).toEqual([]);
    // Nothing in the image loads it; a failure here after other VM tests means one of them left it
    // loaded (each test must leave the VM as found).
    expect(await conntrackLoaded()).toBe(false);
    expect(await run(["lsmod"])).not.toMatch(/^nf_conntrack\s/m);
  });

  it("exposes the pre-6.0 nf_conntrack_helper sysctl once loaded, and unloads again", async () => {
    requireVm();
    const wasLoaded = await conntrackLoaded();
    try {
      await run(["modprobe", "nf_conntrack"]);
      expect(await conntrackLoaded()).toBe(true);
      expect(await run(["cat", "/proc/sys/net/netfilter/nf_conntrack_helper"])).toBe("0");
      expect(await run(["sysctl", "-n", "net.netfilter.nf_conntrack_helper"])).toBe("0");
      expect(await run(["cat", "/sys/module/nf_conntrack/parameters/nf_conntrack_helper"])).toBe("N");
    } finally {
      if (!wasLoaded) await vmExec(["modprobe", "-r", "nf_conntrack"]);
    }
    if (!wasLoaded) {
      expect(await conntrackLoaded()).toBe(false);
      const r = await vmExec(["test", "-e", "/proc/sys/net/netfilter/nf_conntrack_helper"]);
      expect(r.code).toBe(1);
    }
  });
});
