import "./kinds";
export { handler, registeredTypes } from "./registry";
export { closeAll } from "../transport/pool";
