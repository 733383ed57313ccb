/**
 * Bringing the host to what a batch of NotrackRule operations asks: observe once, plan every member
 * against the host as the members before it leave it, apply once; re-plan when the host changed in
 * between. Each member ends with its own result or its own error.
 */
import { endpointKey, hostLabel, type Connection } from "../../connection/schema";
import { poolKey } from "../../transport/pool";
import { ConflictError, ConntrackError, RemoteCommandError, UnsupportedError } from "../../errors";
import type { Family } from "./address";
import { applyPlan, FILE_PREP_FAILED_EXIT, FILE_WRITE_FAILED_EXIT, LIVE_FAILED_EXIT } from "./apply";
import { resolveBackend, variantOf, type ResolvedBackend } from "./backend";
import { afterPlan } from "./evolve";
import { joinBatch, type Settled } from "../../common/batcher";
import { lockoutFromInputs, lockoutFromSession } from "./lockout";
import { mergePlans } from "./merge";
import { observe, type Observed } from "./observe";
import { describeChanges, plan, type Plan } from "./plan";
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
    const builtin =
      o.facts.nfConntrack === "builtin"
        ? " (nf_conntrack is built into this kernel, so the line has no effect today, but it states that this host must not track connections)"
        : "";
    throw new ConflictError(
      `${describeCoreBlock(b)}${builtin}; a NOTRACK rule needs connection tracking, and the kernel would only say "Couldn't load target"`,
      {
        host: hostLabel(conn),
        command: "apply NOTRACK rule change",
        hint: `remove that line (or the ModuleBlacklist resource that manages ${b.where.replace(/:\d+$/, "")}) before adding NOTRACK rules, or remove this NotrackRule`,
      },
    );
  }
  if (req.allowManagementTraffic) return;
  const f = lockoutFromInputs(spec, conn) ?? (o.session ? lockoutFromSession(spec, o.session) : undefined);
  if (f) {
    throw new ConflictError(`${f.property}: ${f.reason}`, {
      host: hostLabel(conn),
      command: "apply NOTRACK rule change",
      hint: "nothing was changed on the host",
    });
  }
}

/**
 * Brings the host to what `req` asks, as one member of the batch of same-kind operations on the
 * same host that are in flight at the same time (see {@link joinBatch}).
 */
export function converge(conn: Connection, req: Request): Promise<Converged> {
  // One lane per host: everything this process changes on a host goes through it, one batch after
  // another, whoever logs in.
  const lane = JSON.stringify(["notrack-write", endpointKey(conn)]);
  // Members of a batch share one connection, so the complete connection identity (credentials and
  // pinned host key included) is part of the key: a member whose key is not authorised or whose
  // hostKey does not match never rides on a batch-mate's session. They also share one observation
  // (one family and iptables variant), one backend (so one live batch and one file) and one kind
  // of operation.
  const identity = connectionIdentity(conn);
  const key = JSON.stringify([identity, req.op, req.family, req.recorded ?? null, req.recorded ? null : req.choice]);
  return joinBatch<Member, Converged>(lane, key, { req, identity }, (members) => convergeMembers(conn, members));
}

/** The identity a batch runs under: the pooled connection's, and whether commands run through sudo. */
export function connectionIdentity(conn: Connection): string {
  return JSON.stringify([poolKey(conn), conn.sudo === true]);
}

interface Member {
  req: Request;
  identity: string;
}

/**
 * Runs a batch over `conn`, the connection of its first member. Every member is checked against it
 * (the batch key already separates identities; this keeps it so should the key ever change).
 */
async function convergeMembers(conn: Connection, members: readonly Member[]): Promise<Settled<Converged>[]> {
  const identity = connectionIdentity(conn);
  const results: Settled<Converged>[] = new Array(members.length);
  const same = members.flatMap((m, i) => (m.identity === identity ? [i] : []));
  members.forEach((m, i) => {
    if (m.identity !== identity) {
      results[i] = {
        ok: false,
        error: new ConntrackError(
          "internal error: a NotrackRule batch mixed connections with different credentials or host keys; nothing was done for this rule",
          {
            host: hostLabel(conn),
            command: "apply NOTRACK rule change",
            hint: "run `pulumi up` again, and report this as a bug of pulumi-conntrack",
          },
        ),
      };
    }
  });
  const done = await convergeBatch(
    conn,
    same.map((i) => members[i].req),
  );
  same.forEach((i, j) => (results[i] = done[j]));
  return results;
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
        } else if (e instanceof RemoteCommandError && e.exitCode === FILE_PREP_FAILED_EXIT) {
          // Nothing changed. Members that write no file (persist: false, nothing saved) do not
          // depend on it: they go again on their own; the others fail, saying nothing was done.
          const free = planned.filter((x) => !x.plan.file);
          for (const x of planned) if (x.plan.file) results[x.i] = { ok: false, error: fileError(conn, reqs[x.i], x.plan, e, "prepare") };
          if (free.length) {
            const again = await convergeBatch(
              conn,
              free.map((x) => reqs[x.i]),
            );
            free.forEach((x, j) => (results[x.i] = again[j]));
          }
        } else if (e instanceof RemoteCommandError && e.exitCode === FILE_WRITE_FAILED_EXIT) {
          // The live batch is applied: members without a file change are done; the others say
          // exactly what was and was not done.
          for (const x of planned) {
            results[x.i] = x.plan.file
              ? { ok: false, error: fileError(conn, reqs[x.i], x.plan, e, "replace") }
              : { ok: true, value: { backend: x.backend, plan: x.plan } };
          }
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
      const error = new ConflictError(
        `the raw table or saved ruleset kept changing while this rule was being written (${attempt} attempts)`,
        {
          host: hostLabel(conn),
          command: "apply NOTRACK rule change",
          hint: "another program is rewriting the host's netfilter rules continuously; retry when it is done",
        },
      );
      for (const i of open) results[i] = { ok: false, error };
      break;
    }
    // Someone else changed the host between observe and apply: back off a little and re-plan.
    await new Promise((r) => setTimeout(r, Math.min(50 * attempt, 1000) + Math.floor(Math.random() * 200)));
  }
  for (const i of later) results[i] = (await convergeBatch(conn, [reqs[i]]))[0];
  return results;
}

/** One member's share of a failed file write: what was and was not done for its rule (exported for tests). */
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
function planMembers(
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
      const backend = decideBackend(conn, req, o);
      assertReadable(conn, backend, o);
      const d = { tag: req.tag, spec: req.spec, persist: req.persist, backend, ...(req.adopt ? { adopt: req.adopt } : {}) };
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
