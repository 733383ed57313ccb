/**
 * Bringing the host to what a batch of NotrackRule operations asks: observe once, plan every member
 * against the host as the members before it leave it, apply once; re-plan when the host changed in
 * between. Each member ends with its own result or its own error.
 */
import { endpointKey, hostLabel, type Connection } from "../../connection/schema";
import { ConflictError, RemoteCommandError, UnsupportedError } from "../../errors";
import type { Family } from "./address";
import { applyPlan, LIVE_FAILED_EXIT } from "./apply";
import { resolveBackend, variantOf, type ResolvedBackend } from "./backend";
import { afterPlan } from "./evolve";
import { joinBatch, type Settled } from "./host-batcher";
import { lockoutFromInputs, lockoutFromSession } from "./lockout";
import { mergePlans } from "./merge";
import { observe, type Observed } from "./observe";
import { plan, type Plan } from "./plan";
import type { BackendChoice } from "./schema";
import type { RuleSpec } from "./spec";
import { describeCoreBlock } from "../module-blacklist/notrack-guard";

/** Attempts of one batch when other programs keep changing the host's rules under it. */
const MAX_ATTEMPTS = 20;

/** What one operation asks of the host. */
export interface Request {
  /** The operation, so that only operations of one kind share a batch. */
  op: "create" | "update" | "delete";
  tag: string;
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

/** The backend for `req`: the recorded one, else what its choice resolves to on this host. */
export function decideBackend(conn: Connection, req: Pick<Request, "recorded" | "choice">, o: Observed): ResolvedBackend {
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
    throw new ConflictError(`${describeCoreBlock(b)}${builtin}; a NOTRACK rule needs connection tracking, and the kernel would only say "Couldn't load target"`, {
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

/**
 * Brings the host to what `req` asks, as one member of the batch of same-kind operations on the
 * same host that are in flight at the same time (see {@link joinBatch}).
 */
export function converge(conn: Connection, req: Request): Promise<Converged> {
  // One lane per host and login: everything this process changes on a host goes through it.
  const lane = JSON.stringify(["notrack-write", endpointKey(conn), conn.sudo === true]);
  // Members of a batch share one observation (one family and iptables variant), one backend (so one
  // live batch and one file) and one kind of operation.
  const key = JSON.stringify([req.op, req.family, req.recorded ?? null, req.recorded ? null : req.choice]);
  return joinBatch(lane, key, req, (reqs) => convergeBatch(conn, reqs));
}

interface Planned {
  /** Index of the member in the batch. */
  i: number;
  backend: ResolvedBackend;
  plan: Plan;
}

/** Runs one batch: each member gets its own result, or its own error (it never throws). */
async function convergeBatch(conn: Connection, reqs: readonly Request[]): Promise<Settled<Converged>[]> {
  const results: Settled<Converged>[] = new Array(reqs.length);
  // Two operations on one rule never run together (the engine waits for one before the next);
  // should they, the second runs after the first rather than planned against a guess.
  const seen = new Set<string>();
  const later: number[] = [];
  let open: number[] = [];
  reqs.forEach((r, i) => {
    if (seen.has(r.tag)) later.push(i);
    else open.push(i);
    seen.add(r.tag);
  });
  const { family, recorded } = reqs[0];
  for (let attempt = 1; open.length > 0; attempt++) {
    let o: Observed;
    try {
      o = await observe(conn, family, variantOf(recorded));
    } catch (error) {
      for (const i of open) results[i] = { ok: false, error };
      break;
    }
    const planned = planMembers(conn, reqs, open, o, results);
    const changing = planned.map((x) => x.plan).filter((p) => p.live || p.file);
    let outcome: "done" | "conflict" = "done";
    if (changing.length > 0) {
      try {
        outcome = await applyPlan(conn, family, mergePlans(o, changing));
      } catch (e) {
        if (changing.length > 1 && e instanceof RemoteCommandError && e.exitCode === LIVE_FAILED_EXIT) {
          // The batch is atomic, so nothing changed; the tool names no culprit. Each member alone
          // finds out whether it is the one the host refuses.
          for (const x of planned) results[x.i] = (await convergeBatch(conn, [reqs[x.i]]))[0];
        } else {
          for (const x of planned) results[x.i] = { ok: false, error: e };
        }
        break;
      }
    }
    if (outcome === "done") {
      for (const x of planned) results[x.i] = { ok: true, value: { backend: x.backend, plan: x.plan } };
      break;
    }
    open = planned.map((x) => x.i);
    if (attempt >= MAX_ATTEMPTS) {
      const error = new ConflictError(`the raw table or saved ruleset kept changing while this rule was being written (${attempt} attempts)`, {
        host: hostLabel(conn),
        command: "apply NOTRACK rule change",
        hint: "another program is rewriting the host's netfilter rules continuously; retry when it is done",
      });
      for (const i of open) results[i] = { ok: false, error };
      break;
    }
    // Someone else changed the host between observe and apply: back off a little and re-plan.
    await new Promise((r) => setTimeout(r, Math.min(50 * attempt, 1000) + Math.floor(Math.random() * 200)));
  }
  for (const i of later) results[i] = (await convergeBatch(conn, [reqs[i]]))[0];
  return results;
}

/**
 * Plans the members in `open` in order, each against the host as the ones before it leave it. A
 * member that is refused gets its error in `results` and drops out of the batch: its batch-mates go
 * on without it.
 */
function planMembers(conn: Connection, reqs: readonly Request[], open: readonly number[], o: Observed, results: Settled<Converged>[]): Planned[] {
  const out: Planned[] = [];
  let state = o;
  for (const i of open) {
    const req = reqs[i];
    try {
      // The backend, readability and guards are about the host as read, not as the batch leaves it.
      const backend = decideBackend(conn, req, o);
      assertReadable(conn, backend, o);
      const d = { tag: req.tag, spec: req.spec, persist: req.persist, backend };
      const p = plan(state, d);
      if (req.spec && (p.live || p.file)) guard(conn, req, o, req.spec);
      out.push({ i, backend, plan: p });
      state = afterPlan(state, d, p);
    } catch (error) {
      results[i] = { ok: false, error };
    }
  }
  return out;
}
