/**
 * The package root: the resources, their argument and output types, and the errors a program can
 * catch. Nothing else: the transport, the planners and the runtime are internal (the package's own
 * tests reach them by relative path; the serialized provider reaches `pulumi-conntrack/runtime`).
 * `test/unit/exports.test.ts` pins this list; adding a name is a decision, not an accident.
 */
export * from "./resources";
export type { ConnectionArgs, SshEndpointArgs as ProxyConnectionArgs } from "./common/resource-options";
export {
  AuthenticationError,
  ConflictError,
  ConntrackError,
  type ConntrackErrorDetails,
  DialTimeoutError,
  HostKeyMismatchError,
  InputError,
  RemoteCommandError,
  TransportError,
  UnreachableError,
  UnsupportedError,
} from "./errors";
export {
  getConntrackStatus,
  type GetConntrackStatusArgs,
  type HostStatus,
  type NotrackCounter,
  type StatName,
  type StatsSource,
} from "./status";
