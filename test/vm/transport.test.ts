// The project's own transport against a real modular kernel: the facts probe tells a loadable
// nf_conntrack from a loaded one, and the pre-6.0 helper toggle is readable once the module loads.
// Leaves the VM as found (nf_conntrack unloaded).
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { ConnectionSchema } from "../../provider/connection/schema";
import { closeAll, exec, probeFacts, run } from "../../provider/transport";
import { requireVm } from "./inventory";

afterAll(() => closeAll());

describe("transport on the VM (Debian 5.10, modular netfilter)", () => {
  it("probes facts, loads nf_conntrack and reads nf_conntrack_helper over ssh2", async () => {
    const vm = requireVm();
    const conn = ConnectionSchema.parse({
      host: vm.host,
      port: vm.port,
      user: vm.user,
      privateKey: readFileSync(vm.privateKeyPath, "utf8"),
      hostKey: vm.hostKey,
    });
    const before = await probeFacts(conn);
    expect(before.kernelRelease).toBe(vm.kernelRelease);
    expect(before.kernel.major).toBe(5);
    expect(before.nfConntrack).toBe("module");
    expect(before.helperSysctl).toBeUndefined();
    expect(before.binaries.modprobe).toBeDefined();
    try {
      await run(conn, ["modprobe", "nf_conntrack"]);
      const after = await probeFacts(conn);
      expect(after.nfConntrack).toBe("loaded");
      expect(after.helperSysctl).toBe("0");
      expect((await run(conn, ["cat", "/proc/sys/net/netfilter/nf_conntrack_helper"])).stdout).toBe("0\n");
    } finally {
      await exec(conn, ["modprobe", "-r", "nf_conntrack"]);
    }
    expect((await probeFacts(conn)).nfConntrack).toBe("module");
  });
});
