import "./kinds";
export { handler, registeredTypes } from "./registry";
export { closeAll } from "../transport/pool";
export { resetSnapshots } from "../transport/exec";
export { snapshotSettings } from "../transport/snapshot";
export { preconnectSettings, resetPreconnect } from "../transport/preconnect";
