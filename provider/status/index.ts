export { getConntrackStatus, type GetConntrackStatusArgs } from "./function";
export { readHostStatus } from "./collect";
export {
  parseStatus,
  parseConntrackS,
  parseProcfsStat,
  parseIptablesCounters,
  parseNftCounters,
  STAT_NAMES,
  type HostStatus,
  type NotrackCounter,
  type StatName,
  type StatsSource,
} from "./parse";
export { renderTable, renderJson, usageBar, exitCodeOf, DEFAULT_WARN_AT, type StatusRow } from "./render";
export { parseKnownHosts, lookupHost, hostFieldMatches, knownHostName, type KnownHostEntry } from "./known-hosts";
export { STATUS_SCRIPT } from "./script";
