/**
 * Bringing the host to what a batch of NotrackRule operations asks: observe once, plan every member
 * against the host as the members before it leave it, apply once; re-plan when the host changed in
 * between. Each member ends with its own result or its own error.
 */
import { endpointKey, hostLabel, type Connection } from "../../../connection/schema";
import { connectionIdentity } from "../../../transport/pool";
import { ConflictError, ConntrackError, RemoteCommandError } from "../../../errors";
import { applyPlan } from "../apply";
import { EXIT } from "../../../transport/exit-codes";
import { variantOf } from "../host/backend";
import { joinBatch, type Settled } from "../../../common/batcher";
import { mergePlans } from "./merge";
import type { Observed } from "../host/observed";
import { observe, observeCommand } from "../observe";
import { snapshotSettings, type SnapshotUse } from "../../../transport/snapshot";
import { hostEpoch } from "../../../transport/exec";
import { announcedChanges } from "../../../common/announced";
import { fileError, planMembers, type Converged, type Request } from "./members";

/**
 * The batch lane of NotrackRule and ConntrackHelperRule (their kinds' `batchLane`): the engine's
 * announced changes of both are what a batch may wait for.
 */
export const NOTRACK_LANE = "notrack-lane";

/** Attempts of one batch when other programs keep changing the host's rules under it. */
const MAX_ATTEMPTS = 20;

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
  // What the host had been through when the engine asked: the first plan may start from any read
  // of the host begun since (see `since` in `transport/snapshot.ts`).
  const since = hostEpoch(conn);
  // With the host snapshot on, the batch reads the host while it gathers its members: rules that
  // arrive during that read still join, and the first plan takes the read from the snapshot.
  const warmup = snapshotSettings.enabled ? () => readForPlan(conn, req, "plan", planSince(lane, [since])) : undefined;
  return joinBatch<Member, Converged>(
    lane,
    key,
    { req, identity, since },
    (members) => convergeMembers(conn, lane, members),
    warmup,
    () => announcedChanges([NOTRACK_LANE], conn),
  );
}

/**
 * Per lane (host), the host's count of completed changes right after this process last applied a
 * NOTRACK batch there: a later batch never plans from a read taken before that apply, even for a
 * member that the engine asked for before it ended (the apply would answer "conflict" and cost a
 * round). One number per host for the life of the provider process.
 */
const afterOwnApply = new Map<string, number>();

/** The `since` of a batch's first plan: after every member's request and after the lane's own last apply. */
function planSince(lane: string, since: readonly number[]): number {
  return Math.max(afterOwnApply.get(lane) ?? 0, ...since);
}

/**
 * The observation a batch plans from: one command for the warmup and for the first attempt, so that
 * the first attempt finds what the warmup read.
 */
function readForPlan(conn: Connection, req: Pick<Request, "family" | "recorded">, use: SnapshotUse, since?: number): Promise<Observed> {
  return observe(conn, req.family, variantOf(req.recorded), { shared: use, since });
}

/** Runs this process's apply on the lane's host and notes, however it ends, the host's count of changes after it. */
async function applyOwn<T>(conn: Connection, lane: string, apply: () => Promise<T>): Promise<T> {
  try {
    return await apply();
  } finally {
    afterOwnApply.set(lane, hostEpoch(conn));
  }
}

interface Member {
  req: Request;
  identity: string;
  /** {@link hostEpoch} when the engine asked. */
  since: number;
}

/**
 * Runs a batch over `conn`, the connection of its first member. Every member is checked against it
 * (the batch key already separates identities; this keeps it so should the key ever change).
 */
async function convergeMembers(conn: Connection, lane: string, members: readonly Member[]): Promise<Settled<Converged>[]> {
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
    lane,
    same.map((i) => members[i].req),
    planSince(
      lane,
      same.map((i) => members[i].since),
    ),
  );
  same.forEach((i, j) => (results[i] = done[j]));
  return results;
}

/**
 * Runs one batch: each member gets its own result, or its own error (it never throws). Its first plan
 * may start from a read of the host begun with at least `since` changes completed there.
 */
async function convergeBatch(conn: Connection, lane: string, reqs: readonly Request[], since: number): Promise<Settled<Converged>[]> {
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
      // The first plan may start from this operation's snapshot of the host (a `pulumi up
      // --refresh` has just read it; any change through this process drops it), or from a read
      // that a sibling's change overlapped (`since`): the apply script checks under the host lock
      // that everything the plan decided by is still as read (the rules and the file it changes,
      // and the modprobe.d lines that keep conntrack or a helper out: `modprobeGuard`), and
      // answers "conflict" otherwise. After a conflict, the host is read afresh.
      o = await readForPlan(conn, reqs[0], attempt === 1 ? "plan" : "fresh", since);
    } catch (error) {
      for (const i of open) results[i] = { ok: false, error };
      break;
    }
    const planned = planMembers(conn, reqs, open, o, results);
    const changing = planned.map((x) => x.plan).filter((p) => p.live || p.file);
    let outcome: "done" | "conflict" = "done";
    if (changing.length > 0) {
      try {
        // Rules of this host the engine announced and has not sent yet form the next batch: the
        // host is read again right after this apply, on its channel, for that batch's plan.
        const then = announcedChanges([NOTRACK_LANE], conn) > 0 ? [observeCommand(family, variantOf(recorded))] : [];
        outcome = await applyOwn(conn, lane, () => applyPlan(conn, family, mergePlans(o, changing), then));
      } catch (e) {
        if (
          changing.length > 1 &&
          e instanceof RemoteCommandError &&
          (e.exitCode === EXIT.LIVE_FAILED || e.exitCode === EXIT.MODULE_LOAD_FAILED)
        ) {
          // The batch is atomic, so nothing changed; the tool names no culprit. Each member alone
          // finds out whether it is the one the host refuses.
          for (const x of planned) results[x.i] = (await convergeBatch(conn, lane, [reqs[x.i]], planSince(lane, [])))[0];
        } else if (e instanceof RemoteCommandError && e.exitCode === EXIT.FILE_PREP_FAILED) {
          // Nothing changed. Members that write no file (persist: false, nothing saved) do not
          // depend on it: they go again on their own; the others fail, saying nothing was done.
          const free = planned.filter((x) => !x.plan.file);
          for (const x of planned) if (x.plan.file) results[x.i] = { ok: false, error: fileError(conn, reqs[x.i], x.plan, e, "prepare") };
          if (free.length) {
            const again = await convergeBatch(
              conn,
              lane,
              free.map((x) => reqs[x.i]),
              planSince(lane, []),
            );
            free.forEach((x, j) => (results[x.i] = again[j]));
          }
        } else if (e instanceof RemoteCommandError && e.exitCode === EXIT.FILE_WRITE_FAILED) {
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
  for (const i of later) results[i] = (await convergeBatch(conn, lane, [reqs[i]], planSince(lane, [])))[0];
  return results;
}
