import { refusalError } from "../../common/refusal";
import type { ResourceKind } from "../../common/kind";
import type { Connection } from "../../connection/schema";
import { apply } from "./apply";
import { managedPath, observe, type HelperObservation } from "./observe";
import { outputsOf, recordedOf, reflectedDesired, type HelperSettingOutputs } from "./outputs";
import { describeChange, plan, planDelete, recordNotesAtCreate, type Plan, type Recorded } from "./plan";
import { previousRecordPath } from "../../common/previous-record";
import { HELPER_SETTING_TYPE, HelperSettingSchema, type HelperSettingDesired, type HelperSettingInputs } from "./schema";

/** The resource's id: the setting is one per host (`nf_conntrack_helper@10.0.0.5:22`). */
export function helperSettingId(c: Pick<Connection, "host" | "port">): string {
  const h = c.host.includes(":") ? `[${c.host}]` : c.host;
  return `nf_conntrack_helper@${h}:${c.port}`;
}

function desiredOf(i: HelperSettingDesired): HelperSettingDesired {
  return { enabled: i.enabled, persist: i.persist, fileName: i.fileName };
}

function refuse(conn: Connection, p: Plan): never {
  throw refusalError(conn, p.refusal!);
}

/**
 * Observe, plan, apply, then outputs from what the host shows afterwards (read back by the apply
 * script, and planned again so that notes and warnings describe the final state, as `read` would).
 */
async function converge(inputs: HelperSettingInputs, recorded: Recorded | undefined): Promise<HelperSettingOutputs> {
  const conn = inputs.connection;
  const desired = desiredOf(inputs);
  const before = await observe(conn, desired.fileName);
  const first = plan(before, desired, recorded);
  if (first.refusal) refuse(conn, first);
  let after: HelperObservation = before;
  if (first.changes.length > 0) {
    const record = { path: previousRecordPath(desired.fileName), action: first.recordAction };
    after = await apply(conn, managedPath(desired.fileName), first.changes, record);
  }
  const final = plan(after, desired, first.record);
  // Where create's earlier values came from is said once, by create (final plans as an update).
  if (!recorded) {
    const said = recordNotesAtCreate(before, desired.fileName);
    final.notes.push(...said.notes);
    final.warnings.push(...said.warnings);
  }
  return outputsOf(after, final, desired, first.record, first.changes.map(describeChange));
}

/**
 * `ConntrackHelperSetting`: automatic conntrack helper assignment of one host, made what the
 * program says on every kernel (set live and persisted where the toggle exists, reported as absent
 * where Linux 6.0 removed it), with the host's earlier values put back on delete.
 */
export const helperSettingKind: ResourceKind<HelperSettingInputs, HelperSettingOutputs> = {
  type: HELPER_SETTING_TYPE,
  schema: HelperSettingSchema,
  // Another file is another object; the old one must be gone first, or its delete would put back
  // the live value the new one had just recorded.
  replaceOn: ["fileName"],
  deleteBeforeReplace: true,
  stateVersion: 1,

  async create(inputs) {
    const outs = await converge(inputs, undefined);
    return { id: helperSettingId(inputs.connection), outs };
  },

  async read(_id, olds) {
    const desired = desiredOf(olds);
    const recorded = recordedOf(olds);
    // A read may use this engine operation's snapshot of the host (see transport/snapshot.ts).
    const o = await observe(olds.connection, desired.fileName, { shared: "read" });
    const p = plan(o, desired, recorded);
    const actions = Array.isArray(olds.actions) ? olds.actions : [];
    // The setting always exists on a reachable host: read never reports it gone, and an
    // unreachable host fails (observe throws) instead of dropping the resource from state.
    return {
      outs: outputsOf(o, p, desired, recorded, actions),
      inputs: { ...pickInputs(olds), ...reflectedDesired(o, p, desired) },
    };
  },

  async update(_id, olds, news) {
    return converge(news, recordedOf(olds));
  },

  async delete(_id, olds) {
    const conn = olds.connection;
    const o = await observe(conn, olds.fileName);
    const { changes, recordAction } = planDelete(o, olds.fileName, recordedOf(olds));
    if (changes.length > 0 || recordAction !== "keep") {
      await apply(conn, managedPath(olds.fileName), changes, { path: previousRecordPath(olds.fileName), action: recordAction });
    }
  },
};

function pickInputs(olds: HelperSettingInputs): HelperSettingInputs {
  return { connection: olds.connection, enabled: olds.enabled, persist: olds.persist, fileName: olds.fileName };
}
