// The per-host batcher is generic and lives in common/; re-exported here so this folder's callers
// and tests keep their imports.
export { joinBatch, type BatchRunner, type Settled } from "../../common/batcher";
