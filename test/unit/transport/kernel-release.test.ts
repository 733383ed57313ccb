import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { OBSERVE_SCRIPT as HELPER_SETTING_OBSERVE } from "../../../provider/resources/helper-setting/observe";
import { APPLY_SCRIPT as MODULE_BLACKLIST_APPLY } from "../../../provider/resources/module-blacklist/apply";
import { OBSERVE_SCRIPT as MODULE_BLACKLIST_OBSERVE } from "../../../provider/resources/module-blacklist/observe";
import { APPLY_SCRIPT as NOTRACK_APPLY } from "../../../provider/resources/notrack-rule/apply";
import { OBSERVE_SCRIPT as NOTRACK_OBSERVE } from "../../../provider/resources/notrack-rule/observe";
import { OBSERVE_SCRIPT_BODY as TABLE_SIZE_OBSERVE } from "../../../provider/resources/table-size/observe";
import { KERNEL_RELEASE } from "../../../provider/transport/facts";

const SCRIPTS: Record<string, string> = {
  "NotrackRule observe": NOTRACK_OBSERVE,
  "NotrackRule apply": NOTRACK_APPLY,
  "ModuleBlacklist observe": MODULE_BLACKLIST_OBSERVE,
  "ModuleBlacklist apply": MODULE_BLACKLIST_APPLY,
  "ConntrackHelperSetting observe": HELPER_SETTING_OBSERVE,
  "TableSize observe": TABLE_SIZE_OBSERVE,
};

/**
 * The script's top-level lines (outside `name() {` ... `}` definitions at column 0) and the
 * functions whose bodies use `$ctk_kr`, directly or through another such function.
 */
function shape(s: string): { top: string[]; users: Set<string> } {
  const top: string[] = [];
  const bodies = new Map<string, string>();
  let fn: string | undefined;
  for (const line of s.split("\n")) {
    const def = /^([A-Za-z_][A-Za-z0-9_]*)\(\) \{$/.exec(line);
    if (fn === undefined && def) {
      fn = def[1];
      bodies.set(fn, "");
    } else if (fn !== undefined && line === "}") fn = undefined;
    else if (fn !== undefined) bodies.set(fn, `${bodies.get(fn)}${line}\n`);
    else top.push(line);
  }
  const users = new Set([...bodies].filter(([, b]) => b.includes("ctk_kr")).map(([n]) => n));
  for (let grew = true; grew; ) {
    grew = false;
    for (const [n, b] of bodies)
      if (!users.has(n) && [...users].some((u) => new RegExp(`\\b${u}\\b`).test(b))) {
        users.add(n);
        grew = true;
      }
  }
  return { top, users };
}

describe("the kernel release ($ctk_kr)", () => {
  it("is assigned at each script's top level before anything that reads it runs", () => {
    for (const [name, s] of Object.entries(SCRIPTS)) {
      if (!s.includes("ctk_kr")) continue;
      const { top, users } = shape(s);
      const set = top.indexOf(KERNEL_RELEASE);
      const firstUse = top.findIndex(
        (l, i) => i !== set && (l.includes("ctk_kr") || [...users].some((u) => new RegExp(`(^|[^A-Za-z0-9_])${u}\\b`).test(l))),
      );
      expect(set, `${name}: KERNEL_RELEASE at the top level`).toBeGreaterThanOrEqual(0);
      expect(firstUse, `${name}: something reads $ctk_kr`).toBeGreaterThanOrEqual(0);
      expect(set, `${name}: assigned before line "${top[firstUse]}"`).toBeLessThan(firstUse);
    }
  });

  it("is the host's release even when the login's environment has a variable of that name", () => {
    const out = execFileSync("sh", ["-c", `${KERNEL_RELEASE}\nprintf '%s' "$ctk_kr"`], {
      env: { ...process.env, ctk_kr: "9.9.9-stray", kr: "9.9.9-stray" },
      encoding: "utf8",
    });
    expect(out).toBe(execFileSync("uname", ["-r"], { encoding: "utf8" }).trim());
  });

  it("is not the old unprefixed $kr anywhere, which a login's environment could supply", () => {
    for (const [name, s] of Object.entries(SCRIPTS)) expect(s, name).not.toMatch(/\$\{?kr\b/);
  });
});
