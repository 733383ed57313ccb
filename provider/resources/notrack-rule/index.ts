// The folder's public part: the resources, their arguments and outputs, and the value types they
// name (the runtime reaches the kind through `kind.ts`, the tests reach the rest by path).
export { NotrackRule, type NotrackRuleArgs } from "./resource";
export { NotrackServicePort, notrackServicePort, type NotrackServicePortArgs, type ServiceRole } from "./service-port";
export type { NotrackRuleOutputs } from "./outputs";
export type {
  BackendChoice as NotrackBackendChoice,
  Chain as NotrackChain,
  Protocol as NotrackProtocol,
  ResolvedBackend as NotrackResolvedBackend,
} from "./syntax/rule";
export type { Persistence as NotrackPersistence } from "./host/backend";
export type { PortSpec } from "./syntax/ports";
