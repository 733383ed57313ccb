import { refusalError } from "../../common/refusal";
import type { ResourceKind } from "../../common/kind";
import type { Connection } from "../../connection/schema";
import { apply } from "./apply";
import { observe, type TableObservation } from "./observe";
import { outputsOf, recordedOf, reflectedDesired, type TableSizeOutputs } from "./outputs";
import { describeChange, plan, planDelete, recordNotesAtCreate, type Plan, type Recorded } from "./plan";
import { TABLE_RECORD_PATH } from "./previous-record";
import { TABLE_SIZE_TYPE, TableSizeSchema, combinationFailures, type TableSizeDesired, type TableSizeInputs } from "./schema";

/** The resource's id: the table is one per host (`nf_conntrack_table@10.0.0.5:22`). */
export function tableSizeId(c: Pick<Connection, "host" | "port">): string {
  const h = c.host.includes(":") ? `[${c.host}]` : c.host;
  return `nf_conntrack_table@${h}:${c.port}`;
}

function desiredOf(i: TableSizeInputs): TableSizeDesired {
  const { connection: _c, ...rest } = i;
  return { ...rest, timeouts: { ...(rest.timeouts ?? {}) } };
}

function refuse(conn: Connection, p: Plan): never {
  throw refusalError(conn, p.refusal!);
}

/**
 * Observe, plan, apply (all or nothing), then outputs from what the host shows afterwards. A create
 * reads what the host had from the host-side record when an earlier attempt left one.
 */
async function converge(inputs: TableSizeInputs, recorded: Recorded | undefined): Promise<TableSizeOutputs> {
  const conn = inputs.connection;
  const desired = desiredOf(inputs);
  const before = await observe(conn);
  const first = plan(before, desired, recorded);
  if (first.refusal) refuse(conn, first);
  let after: TableObservation = before;
  if (first.changes.length > 0) after = await apply(conn, first.changes, { path: TABLE_RECORD_PATH, action: first.recordAction });
  const final = plan(after, desired, first.record);
  // Where create's earlier values came from is said once, by create (final plans as an update).
  if (!recorded) {
    const said = recordNotesAtCreate(before);
    final.notes.push(...said.notes);
    final.warnings.push(...said.warnings);
  }
  // The count when the operation ran: the one read before the change.
  const outs = outputsOf(after, final, first.record, first.changes.map(describeChange));
  return { ...outs, countAtOperation: before.count ?? outs.countAtOperation };
}

/**
 * `ConntrackTableSize`: a host's conntrack table size (`nf_conntrack_max`, the hash size) and
 * timeouts, set live and persisted (sysctl.d, a modprobe.d `hashsize` option, and a udev rule that
 * re-applies the sysctls when a modular nf_conntrack loads after boot), refused where they cannot
 * be set honestly, with the host's earlier values put back on delete.
 */
export const tableSizeKind: ResourceKind<TableSizeInputs, TableSizeOutputs> = {
  type: TABLE_SIZE_TYPE,
  schema: TableSizeSchema,
  replaceOn: [],
  stateVersion: 1,

  validate(inputs) {
    return combinationFailures(inputs);
  },

  async create(inputs) {
    const outs = await converge(inputs, undefined);
    return { id: tableSizeId(inputs.connection), outs };
  },

  async read(_id, olds) {
    const desired = desiredOf(olds);
    const recorded = recordedOf(olds);
    // A read may use this engine operation's snapshot of the host (see transport/snapshot.ts).
    const o = await observe(olds.connection, { shared: "read" });
    const p = plan(o, desired, recorded);
    const actions = Array.isArray(olds.actions) ? olds.actions : [];
    return { outs: outputsOf(o, p, recorded, actions), inputs: { connection: olds.connection, ...reflectedDesired(p, desired) } };
  },

  async update(_id, olds, news) {
    return converge(news, recordedOf(olds));
  },

  async delete(_id, olds) {
    const o = await observe(olds.connection);
    const { changes, recordAction } = planDelete(o, recordedOf(olds));
    if (changes.length > 0 || recordAction !== "keep")
      await apply(olds.connection, changes, { path: TABLE_RECORD_PATH, action: recordAction });
  },
};
