// The host snapshots live with the demo (scripts/lab-hosts.ts), which must not import test code.
export * from "../../scripts/lab-hosts";
