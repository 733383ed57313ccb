import { randomBytes } from "node:crypto";
import type { CheckFailure } from "../../common/check";
import type { ReadOutcome, ResourceKind } from "../../common/kind";
import { containsUnknown } from "../../common/unknown";
import { hostLabel, type Connection } from "../../connection/schema";
import { ConflictError, UnsupportedError } from "../../errors";
import type { Family } from "./address";
import { applyPlan } from "./apply";
import { resolveBackend, variantOf, type Persistence, type ResolvedBackend } from "./backend";
import { queueForHost } from "./host-queue";
import { inspect } from "./inspect";
import { lockoutFromInputs, lockoutFromSession } from "./lockout";
import { observe, type Observed } from "./observe";
import { describeChanges, plan, ruleTextFor, type Plan } from "./plan";
import { NOTRACK_RULE_TYPE, NotrackRuleSchema, type BackendChoice, type NotrackRuleInputs } from "./schema";
import { makeTag, specOf, type RuleSpec } from "./spec";

/** What a NotrackRule records beyond its inputs. */
export interface NotrackRuleOutputs {
  /** The comment that identifies the rule on the host (also the resource id). */
  tag: string;
  /** Where the rule lives: `iptables-nft`, `iptables-legacy` or `nftables` (what `auto` chose). */
  resolvedBackend: ResolvedBackend;
  /** The rule as written: an iptables-save line, or an nft statement. */
  ruleText: string;
  /** How the rule survives a reboot (`mechanism: "none"` says there is no known way). */
  persistence: Persistence;
  /** What the last create or update changed on the host. */
  actions: string[];
}

/** Attempts of one operation when other programs keep changing the host's rules under it. */
const MAX_ATTEMPTS = 20;

interface Request {
  tag: string;
  spec?: RuleSpec;
  family: Family;
  persist: boolean;
  choice: BackendChoice;
  recorded?: ResolvedBackend;
  allowManagementTraffic: boolean;
}

function decideBackend(conn: Connection, req: Request, o: Observed): ResolvedBackend {
  if (req.recorded) return req.recorded;
  const d = resolveBackend(req.choice, o);
  if (!d.ok) {
    throw new UnsupportedError(`cannot place a NOTRACK rule: ${d.reason}`, {
      host: hostLabel(conn),
      command: "observe NOTRACK rules",
      hint: "install iptables or nftables on the host, or choose the backend input that matches what it has",
    });
  }
  return d.backend;
}

/** Refuses to act on a ruleset that could not be read: it would look empty, and rules would double. */
export function assertReadable(conn: Connection, backend: ResolvedBackend, o: Observed): void {
  if (backend !== "nftables" && o.iptables.saveError) {
    throw new UnsupportedError(`cannot read the raw table: ${o.iptables.saveError}`, {
      host: hostLabel(conn),
      command: `${o.family === "ipv6" ? "ip6tables" : "iptables"}-save -t raw`,
      hint: "check that the user is root or has passwordless sudo (sudo: true) and that the iptables tools work on the host",
    });
  }
  if (backend === "nftables" && o.nft.json === false) {
    throw new UnsupportedError("nft cannot list rulesets as JSON (built without JSON support), so this package cannot read its table", {
      host: hostLabel(conn),
      command: "nft -j list tables",
      hint: 'install an nftables built with JSON support (Debian, Ubuntu, RHEL 8+ have it) or use backend: "iptables"',
    });
  }
}

/** Refuses a rule the host cannot load or that could cut off the management session. */
function guard(conn: Connection, req: Request, o: Observed, spec: RuleSpec): void {
  if (o.conntrackBlocks.length > 0) {
    const b = o.conntrackBlocks[0];
    const builtin = o.facts.nfConntrack === "builtin" ? " (nf_conntrack is built into this kernel, so the line has no effect today, but it states that this host must not track connections)" : "";
    throw new ConflictError(`nf_conntrack is disabled on this host by \`${b.text}\` in ${b.where}${builtin}; a NOTRACK rule needs connection tracking, and the kernel would only say "Couldn't load target"`, {
      host: hostLabel(conn),
      command: "apply NOTRACK rule change",
      hint: `remove that line (or the ModuleBlacklist resource that manages ${b.where.replace(/:\d+$/, "")}) before adding NOTRACK rules, or remove this NotrackRule`,
    });
  }
  if (req.allowManagementTraffic) return;
  const f = lockoutFromInputs(spec, conn) ?? (o.session ? lockoutFromSession(spec, o.session) : undefined);
  if (f) {
    throw new ConflictError(`${f.property}: ${f.reason}`, { host: hostLabel(conn), command: "apply NOTRACK rule change", hint: "nothing was changed on the host" });
  }
}

/** Observes, plans and applies until the host holds what `req` asks, or fails. */
function converge(conn: Connection, req: Request): Promise<{ backend: ResolvedBackend; plan: Plan }> {
  return queueForHost(conn, async () => {
    for (let attempt = 1; ; attempt++) {
      const o = await observe(conn, req.family, variantOf(req.recorded));
      const backend = decideBackend(conn, req, o);
      assertReadable(conn, backend, o);
      const p = plan(o, { tag: req.tag, spec: req.spec, persist: req.persist, backend });
      if (!p.live && !p.file) return { backend, plan: p };
      if (req.spec) guard(conn, req, o, req.spec);
      if ((await applyPlan(conn, req.family, p)) === "done") return { backend, plan: p };
      if (attempt >= MAX_ATTEMPTS) {
        throw new ConflictError(`the raw table or saved ruleset kept changing while this rule was being written (${attempt} attempts)`, {
          host: hostLabel(conn),
          command: "apply NOTRACK rule change",
          hint: "another program is rewriting the host's netfilter rules continuously; retry when it is done",
        });
      }
      // Someone else changed the host between observe and apply: back off a little and re-plan.
      await new Promise((r) => setTimeout(r, Math.min(50 * attempt, 1000) + Math.floor(Math.random() * 200)));
    }
  });
}

function outputsOf(tag: string, backend: ResolvedBackend, p: Plan, spec: RuleSpec): NotrackRuleOutputs {
  return { tag, resolvedBackend: backend, ruleText: p.ruleText ?? ruleTextFor(backend, spec, tag), persistence: p.persistence, actions: describeChanges(p.changes) };
}

function requestOf(inputs: NotrackRuleInputs, tag: string, recorded?: ResolvedBackend): Request {
  return {
    tag,
    spec: specOf(inputs),
    family: inputs.family,
    persist: inputs.persist,
    choice: inputs.backend,
    recorded,
    allowManagementTraffic: inputs.allowManagementTraffic,
  };
}

/** The NotrackRule kind: one NOTRACK rule on one host, identified by its tag. */
export const notrackRuleKind: ResourceKind<NotrackRuleInputs, NotrackRuleOutputs> = {
  type: NOTRACK_RULE_TYPE,
  schema: NotrackRuleSchema,
  // Another family or backend is another ruleset; another name is another tag.
  replaceOn: ["family", "backend", "ruleName"],
  stateVersion: 1,

  validate(inputs: NotrackRuleInputs): CheckFailure[] {
    if (containsUnknown(inputs)) return [];
    const failures: CheckFailure[] = [];
    if (inputs.observedDrift !== undefined) failures.push({ property: "observedDrift", reason: "is set by refresh only; remove it from the program" });
    if (!inputs.allowManagementTraffic) {
      const f = lockoutFromInputs(specOf(inputs), inputs.connection);
      if (f) failures.push({ property: f.property, reason: f.reason });
    }
    return failures;
  },

  async create(inputs) {
    const tag = makeTag(inputs.ruleName, randomBytes(5).toString("hex"));
    const spec = specOf(inputs);
    const { backend, plan: p } = await converge(inputs.connection, requestOf(inputs, tag));
    return { id: tag, outs: outputsOf(tag, backend, p, spec) };
  },

  async read(id, olds): Promise<ReadOutcome<NotrackRuleInputs, NotrackRuleOutputs> | undefined> {
    const tag = olds.tag ?? id;
    const conn = olds.connection;
    const o = await observe(conn, olds.family, variantOf(olds.resolvedBackend));
    const backend = olds.resolvedBackend ?? decideBackend(conn, requestOf(olds, tag), o);
    assertReadable(conn, backend, o);
    return inspect(o, { ...olds, tag, resolvedBackend: backend });
  },

  async update(id, olds, news) {
    const tag = olds.tag ?? id;
    const spec = specOf(news);
    const { backend, plan: p } = await converge(news.connection, requestOf(news, tag, olds.resolvedBackend));
    return outputsOf(tag, backend, p, spec);
  },

  async delete(id, olds) {
    const tag = olds.tag ?? id;
    await converge(olds.connection, { ...requestOf(olds, tag, olds.resolvedBackend), spec: undefined, persist: false });
  },
};
