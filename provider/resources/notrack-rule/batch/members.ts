/**
 * The decisions of a batch, without I/O: what a member asks, which backend it gets, what refuses
 * it, its plan against the host as the members before it leave it, and its share of a failed file
 * write.
 */
import { hostLabel, type Connection } from "../../../connection/schema";
import { RemoteCommandError } from "../../../errors";
import { refusalError, type Refusal } from "../../../common/refusal";
import type { Settled } from "../../../common/batcher";
import type { Family } from "../syntax/address";
import type { HelperName } from "../syntax/helpers";
import type { RuleSpec } from "../syntax/rule";
import { helperModuleDecision } from "../host/helper-modules";
import { kernelAtLeast } from "../../../transport/facts";
import { resolveBackend } from "../host/backend";
import { type ResolvedBackend } from "../syntax/rule";
import { afterPlan } from "./evolve";
import { lockoutFromInputs, lockoutFromSession } from "../host/lockout";
import type { Observed } from "../host/observed";
import { describeChanges, plan, type Plan } from "../plan";
import type { BackendChoice } from "../syntax/rule";
import { describeCoreBlock } from "../../../transport/conntrack-core";

/** What one operation asks of the host. */
export interface Request {
  /** The operation, so that only operations of one kind share a batch. */
  op: "create" | "update" | "delete";
  tag: string;
  /** Create only: the tag prefix of rules the create takes over (see `Desired.adopt`). */
  adopt?: string;
  /** The rule; `undefined` removes it. */
  spec?: RuleSpec;
  family: Family;
  persist: boolean;
  choice: BackendChoice;
  /** The backend the rule was created in (update, delete). */
  recorded?: ResolvedBackend;
  allowManagementTraffic: boolean;
}

/** What a converged operation did. */
export interface Converged {
  backend: ResolvedBackend;
  plan: Plan;
}

/** The backend for `req`: the recorded one, else what its choice resolves to on this host; or why none fits. Pure. */
export function backendDecision(
  req: Pick<Request, "recorded" | "choice">,
  o: Observed,
): { backend: ResolvedBackend } | { refusal: Refusal } {
  if (req.recorded) return { backend: req.recorded };
  const d = resolveBackend(req.choice, o);
  if (d.ok) return { backend: d.backend };
  return {
    refusal: {
      error: "unsupported",
      message: `cannot place a NOTRACK rule: ${d.reason}`,
      command: "observe NOTRACK rules",
      hint: "install iptables or nftables on the host, or choose the backend input that matches what it has",
    },
  };
}

/** A ruleset that could not be read would look empty, and rules would double: refused. Pure. */
export function unreadableRefusal(backend: ResolvedBackend, o: Observed): Refusal | undefined {
  if (backend !== "nftables" && o.iptables.saveError) {
    return {
      error: "unsupported",
      message: `cannot read the raw table: ${o.iptables.saveError}`,
      command: `${o.family === "ipv6" ? "ip6tables" : "iptables"}-save -t raw`,
      hint: "check that the user is root or has passwordless sudo (sudo: true) and that the iptables tools work on the host",
    };
  }
  if (backend === "nftables" && o.nft.json === false) {
    return {
      error: "unsupported",
      message: "nft cannot list rulesets as JSON (built without JSON support), so this package cannot read its table",
      command: "nft -j list tables",
      hint: 'install an nftables built with JSON support (Debian, Ubuntu, RHEL 8+ have it) or use backend: "iptables"',
    };
  }
  return undefined;
}

/** The backend for `req` (see {@link backendDecision}), its ruleset readable; else the refusal as an error. */
export function decideReadableBackend(conn: Connection, req: Pick<Request, "recorded" | "choice">, o: Observed): ResolvedBackend {
  const d = backendDecision(req, o);
  if ("refusal" in d) throw refusalError(conn, d.refusal);
  const r = unreadableRefusal(d.backend, o);
  if (r) throw refusalError(conn, r);
  return d.backend;
}

/**
 * A rule the host cannot load (a conntrack module is kept out) or that could cut off the
 * management session (`conn` is read as data: the address and port of the session). Pure.
 */
export function guardRefusal(conn: Connection, req: Request, o: Observed, spec: RuleSpec): Refusal | undefined {
  if (spec.helper !== undefined) return helperRefusal(req, o, spec.helper);
  if (o.conntrackBlocks.length > 0) {
    const b = o.conntrackBlocks[0];
    const builtin =
      o.facts.nfConntrack === "builtin"
        ? " (nf_conntrack is built into this kernel, so the line has no effect today, but it states that this host must not track connections)"
        : "";
    return {
      error: "conflict",
      message: `${describeCoreBlock(b)}${builtin}; a NOTRACK rule needs connection tracking, and the kernel would only say "Couldn't load target"`,
      command: "apply NOTRACK rule change",
      hint: `remove that line (or the ModuleBlacklist resource that manages ${b.where.replace(/:\d+$/, "")}) before adding NOTRACK rules, or remove this NotrackRule`,
    };
  }
  if (req.allowManagementTraffic) return undefined;
  const f = lockoutFromInputs(spec, conn) ?? (o.session ? lockoutFromSession(spec, o.session) : undefined);
  if (f)
    return {
      error: "conflict",
      message: `${f.property}: ${f.reason}`,
      command: "apply NOTRACK rule change",
      hint: "nothing was changed on the host",
    };
  return undefined;
}

/**
 * A helper rule the host cannot carry out: conntrack kept out, the helper's module kept out or
 * missing, or (nftables) a kernel without `ct helper` objects. Helper rules leave packets tracked,
 * so the lockout guard has nothing to say about them. Pure.
 */
export function helperRefusal(req: Pick<Request, "recorded" | "choice">, o: Observed, helper: HelperName): Refusal | undefined {
  const command = `apply conntrack helper rule (${helper})`;
  if (o.conntrackBlocks.length > 0) {
    const b = o.conntrackBlocks[0];
    return {
      error: "conflict",
      message: `${describeCoreBlock(b)}; a helper rule attaches a helper to tracked connections, so it needs connection tracking`,
      command,
      hint: `remove that line (or the ModuleBlacklist resource that manages ${b.where.replace(/:\d+$/, "")}), or remove this ConntrackHelperRule`,
    };
  }
  const m = helperModuleDecision(helper, o.helperModules);
  if ("refused" in m) return { error: "conflict", message: m.refused, command, hint: m.hint };
  const d = backendDecision(req, o);
  if ("backend" in d && d.backend === "nftables" && !kernelAtLeast(o.facts, 4, 12)) {
    return {
      error: "unsupported",
      message: `kernel ${o.facts.kernelRelease} has no nftables ct helper objects (added in Linux 4.12), so nft cannot set a helper`,
      command,
      hint: 'use backend: "iptables" (the CT target with --helper works on every kernel since 2.6.34), or upgrade the kernel',
    };
  }
  return undefined;
}

export interface Planned {
  /** Index of the member in the batch. */
  i: number;
  backend: ResolvedBackend;
  plan: Plan;
}

/** One member's share of a failed file write: what was and was not done for its rule. */
export function fileError(
  conn: Connection,
  req: Request,
  p: Plan,
  e: RemoteCommandError,
  stage: "prepare" | "replace",
): RemoteCommandError {
  const file = p.file?.path ?? "the saved ruleset";
  const why = e.stderr.trim() || "no message";
  const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/")) || "/" : file;
  const live = describeChanges(p.changes.filter((c) => c.action === "add" || c.action === "replace" || c.action === "remove"));
  if (stage === "prepare") {
    return new RemoteCommandError(
      `nothing was changed for rule ${req.tag}: ${file} cannot be written (${why}); the live rule and its saved copy are changed together, so ${live.length ? "the live ruleset was not changed either" : "the live ruleset, already right, was left as it is"}`,
      e,
      {
        host: hostLabel(conn),
        command: `write ${file} (checked before the live change)`,
        hint: `make ${dir} writable (read-only or full file system? sudo: true for a non-root user), or set persist: false on this rule if it need not survive a reboot; then run \`pulumi up\` again`,
        cause: e,
      },
    );
  }
  const done = live.length ? `the live change was made (${live.join("; ")})` : "the live ruleset was already right";
  const missing =
    p.file?.content === null || !req.spec || !req.persist
      ? `the rule is still saved in ${file} and comes back at the next boot`
      : `the rule is not saved in ${file} yet, so it is gone after a reboot`;
  return new RemoteCommandError(`${done}, but ${file} could not be replaced (${why}): ${missing}`, e, {
    host: hostLabel(conn),
    command: `${p.file?.content === null ? "remove" : "replace"} ${file}`,
    hint: `make ${dir} writable, then run \`pulumi up\` again: it finds the live rule and brings ${file} in line`,
    cause: e,
  });
}

/**
 * Plans the members in `open` in order, each against the host as the ones before it leave it. A
 * member that is refused gets its error in `results` and drops out of the batch: its batch-mates go
 * on without it.
 */
export function planMembers(
  conn: Connection,
  reqs: readonly Request[],
  open: readonly number[],
  o: Observed,
  results: Settled<Converged>[],
): Planned[] {
  const out: Planned[] = [];
  let state = o;
  for (const i of open) {
    const req = reqs[i];
    try {
      // The backend, readability and guards are about the host as read, not as the batch leaves it.
      // A refused member gets its refusal as its error and drops out; its batch-mates go on.
      const refuse = (r: Refusal) => {
        results[i] = { ok: false, error: refusalError(conn, r) };
      };
      const decided = backendDecision(req, o);
      if ("refusal" in decided) {
        refuse(decided.refusal);
        continue;
      }
      const backend = decided.backend;
      const unreadable = unreadableRefusal(backend, o);
      if (unreadable) {
        refuse(unreadable);
        continue;
      }
      const d = { tag: req.tag, spec: req.spec, persist: req.persist, backend, ...(req.adopt ? { adopt: req.adopt } : {}) };
      const p = plan(state, d);
      const guarded = req.spec && (p.live || p.file) ? guardRefusal(conn, req, o, req.spec) : undefined;
      if (guarded) {
        refuse(guarded);
        continue;
      }
      out.push({ i, backend, plan: p });
      state = afterPlan(state, d, p);
    } catch (error) {
      results[i] = { ok: false, error };
    }
  }
  return out;
}
