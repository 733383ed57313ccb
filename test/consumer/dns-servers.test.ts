import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { hostExec, isRoot, labRunning, loadLab, type LabInventory } from "../lab/inventory";
import { credentialNeedles } from "../engine/credentials";
import { engineFor, REPO, stackDir } from "../engine/harness";
import { onHost } from "../engine/lab-hosts";
import { engineOnResetHosts, lifecycle } from "../engine/lifecycle";
import { installedVersion, prepareConsumer, type ConsumerProject } from "./prepare";
import { CONSUMER_SDK_VERSIONS } from "./sdk-versions";

// `examples/dns-servers` as a user runs it: the package packed with `npm pack` and installed from the
// tarball into a fresh project outside the repository, next to each `@pulumi/pulumi` release of the
// supported range's ends (test/consumer/sdk-versions.ts), then driven through the engine stand-in
// (the SDK's own program runner and dynamic-provider server, resolved from that project) against
// ctlab9 and ctlab10. A file missing from `files`, a build step `npm pack` does not run, a wrong
// `exports` path or a second SDK copy under the package fails here, not at a user's.
const lab = isRoot() && labRunning() ? (loadLab() as LabInventory) : undefined;
const HOSTS = ["ctlab9", "ctlab10"] as const;
const RULES = ["tcp", "udp"].flatMap((p) => ["in-dport", "out-sport", "out-dport", "in-sport"].map((d) => `ipv4-${p}-${d}`));
/** Installing can take minutes on a cold npm cache and a busy machine. */
const PREPARE_TIMEOUT = 900_000;

const config = (extra: Record<string, unknown> = {}) => ({
  privateKeyFile: lab!.privateKeyPath,
  knownHostsFile: lab!.knownHostsPath,
  hosts: [
    { name: "ctlab9", address: "10.213.0.19" },
    { name: "ctlab10", address: "10.213.0.20" },
  ],
  ...extra,
});

for (const sdk of CONSUMER_SDK_VERSIONS) {
  describe.skipIf(!lab)(`examples/dns-servers from the packed package with @pulumi/pulumi ${sdk} (lab)`, () => {
    let project: ConsumerProject | undefined;
    beforeAll(() => {
      project = prepareConsumer({ sdk, example: "dns-servers" });
    }, PREPARE_TIMEOUT);
    const dir = () => {
      if (!project) throw new Error("consumer project not prepared");
      return project.dir;
    };

    it("resolves the package, its runtime entry and one SDK from the project's own node_modules", () => {
      const nm = path.join(dir(), "node_modules");
      expect(installedVersion(dir(), "@pulumi/pulumi")).toBe(sdk);
      // A peer dependency: no second SDK nested under the package (two SDKs split the resource registry).
      expect(existsSync(path.join(nm, "pulumi-conntrack", "node_modules", "@pulumi", "pulumi"))).toBe(false);
      // Installed from the tarball, not linked to the repository. Resolved by a process started in
      // the project, as the program and the provider server resolve them (in this process, inside
      // the repository, Node would resolve the package's own name to the repository itself).
      const probe = 'process.stdout.write(JSON.stringify(["pulumi-conntrack", "pulumi-conntrack/runtime"].map((e) => require.resolve(e))))';
      const resolved = JSON.parse(execFileSync(process.execPath, ["-e", probe], { cwd: dir(), encoding: "utf8" })) as string[];
      for (const r of resolved) {
        expect(r.startsWith(path.join(nm, "pulumi-conntrack", "dist", "provider") + path.sep), r).toBe(true);
        expect(r.startsWith(REPO + path.sep), r).toBe(false);
      }
      // What the tarball holds: the build, the README, the manifest; no sources or tests.
      expect(readdirSync(path.join(nm, "pulumi-conntrack")).sort()).toEqual(["README.md", "dist", "package.json"]);
      expect(readdirSync(path.join(nm, "pulumi-conntrack", "dist"))).toEqual(["provider"]);
    });

    const engine = engineOnResetHosts(HOSTS, () => engineFor(dir(), stackDir(`consumer-${sdk}`), config(), "lab"));

    it("serializes a provider that requires the installed package's runtime by name", async () => {
      const pv = await engine().preview();
      expect(pv.ok, pv.errors.join("\n")).toBe(true);
      const custom = pv.registrations.filter((r) => r.custom);
      expect(custom.length).toBe(HOSTS.length * (1 + RULES.length));
      for (const r of custom) expect(r.inputs.__provider).toContain('require("pulumi-conntrack/runtime")');
    });

    lifecycle({
      engine,
      hosts: HOSTS,
      run: hostExec,
      // Moving the rules from the host's nftables to iptables: each rule is another object.
      changedConfig: () => config({ backend: "iptables" }),
      changeOps: Object.fromEntries(HOSTS.flatMap((h) => RULES.map((r) => [`${h}-dns-${r}`, "replace" as const]))),
      afterCreate: async () => {
        for (const h of HOSTS) {
          const nft = await onHost(h, "nft list ruleset", hostExec);
          for (const r of RULES) expect(nft).toContain(`pulumi-conntrack:${h}-dns-${r}:`);
        }
      },
      afterChange: async () => {
        for (const h of HOSTS) {
          const saved = await onHost(h, "iptables-save -t raw", hostExec);
          for (const r of RULES) expect(saved).toContain(`pulumi-conntrack:${h}-dns-${r}:`);
          expect(await onHost(h, "nft list ruleset", hostExec)).not.toContain("inet pulumi_conntrack");
        }
      },
      drift: async () => {
        await onHost(
          "ctlab10",
          `r=$(iptables -t raw -S | grep 'ctlab10-dns-ipv4-udp-in-dport'); eval "iptables -t raw \${r/-A /-D }"`,
          hostExec,
        );
      },
      drifted: ["ctlab10-dns-ipv4-udp-in-dport"],
      credentials: lab ? credentialNeedles(lab.privateKeyPath) : [],
    });
  });
}
