import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchHost } from "./hosts";
import type { DnsRule } from "./dns-rules";

/** Ansible and its version, or undefined when `ansible-playbook` is not installed. */
export async function ansibleVersion(): Promise<string | undefined> {
  return new Promise((resolve) =>
    execFile("ansible-playbook", ["--version"], (err, out) => resolve(err ? undefined : out.split("\n")[0].trim())),
  );
}

/**
 * A playbook that does what the provider does for the DNS case: the seed's NOTRACK rules in the raw
 * table with a comment each, with `ansible.builtin.iptables` (one task per rule, as a user would write
 * it). `state` absent removes them.
 */
export function playbook(rules: readonly DnsRule[], state: "present" | "absent"): string {
  const tasks = rules.map((r) =>
    [
      `    - name: ${r.name} ${state}`,
      `      ansible.builtin.iptables:`,
      `        table: raw`,
      `        chain: ${r.chain}`,
      `        protocol: ${r.protocol}`,
      r.destinationPort ? `        destination_port: "${r.destinationPort}"` : "",
      r.sourcePort ? `        source_port: "${r.sourcePort}"` : "",
      `        jump: NOTRACK`,
      `        comment: "bench-ansible:${r.name}"`,
      `        state: ${state}`,
    ]
      .filter(Boolean)
      .join("\n"),
  );
  return `- hosts: lab\n  gather_facts: false\n  tasks:\n${tasks.join("\n")}\n`;
}

/** Runs a playbook against the hosts with one fork per host; resolves with wall time in ms. */
export async function runPlaybook(hosts: readonly BenchHost[], keyPath: string, knownHosts: string, yaml: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "ctk-bench-ansible-"));
  const inv = join(dir, "inventory.ini");
  writeFileSync(
    inv,
    "[lab]\n" +
      hosts
        .map(
          (h) =>
            `${h.name} ansible_host=${h.address} ansible_user=root ansible_ssh_private_key_file=${keyPath} ansible_python_interpreter=/usr/bin/python3`,
        )
        .join("\n") +
      "\n",
  );
  const pb = join(dir, "playbook.yml");
  writeFileSync(pb, yaml);
  const started = performance.now();
  await new Promise<void>((resolve, reject) =>
    execFile(
      "ansible-playbook",
      ["-i", inv, "-f", String(hosts.length), pb],
      {
        env: {
          ...process.env,
          ANSIBLE_HOST_KEY_CHECKING: "True",
          ANSIBLE_SSH_ARGS: `-o UserKnownHostsFile=${knownHosts} -o ControlMaster=auto -o ControlPersist=60s`,
          ANSIBLE_NOCOWS: "1",
          ANSIBLE_RETRY_FILES_ENABLED: "False",
          ANSIBLE_LOCAL_TEMP: join(dir, "tmp"),
        },
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => (err ? reject(new Error(`ansible-playbook failed: ${err.message}\n${stdout}\n${stderr}`)) : resolve()),
    ),
  );
  return performance.now() - started;
}
