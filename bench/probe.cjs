/**
 * Preloaded into the dynamic-provider server (and the status command) by the benchmark
 * (`NODE_OPTIONS=--require`), never by the package: on SIGUSR2 and at exit it writes the package's own counters (connections dialled, remote commands
 * run, SSH channels they took) and the process's peak RSS to the file named by CONNTRACK_BENCH_PROBE. The counters are the
 * ones the package keeps in `dist/provider/transport` (the same module instance the provider loads:
 * Node caches modules by real path, and the package's self-link resolves to this repository).
 */
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const out = process.env.CONNTRACK_BENCH_PROBE;
if (out) {
  const dist = path.resolve(__dirname, "..", "dist", "provider", "transport");
  const peakRssKb = () => {
    const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) : null;
  };
  // utime + stime of this process, in seconds (fields 14 and 15 of /proc/self/stat, in clock ticks of 1/100 s).
  const cpuSeconds = () => {
    const f = fs.readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  };
  const write = () => {
    // Only read the counters when the provider has loaded the package: requiring it here would
    // count its memory in a phase that never needed it.
    const loaded = (name) => require.cache[path.join(dist, name)]?.exports;
    const report = { pid: process.pid, commands: loaded("exec.js")?.execStats.commands ?? 0, channels: loaded("exec.js")?.execStats.channels ?? loaded("exec.js")?.execStats.commands ?? 0, dials: loaded("dial.js")?.dialStats.dials ?? 0, peakRssKb: peakRssKb(), cpuSeconds: cpuSeconds() };
    fs.writeFileSync(`${out}.tmp`, JSON.stringify(report));
    fs.renameSync(`${out}.tmp`, out);
  };
  process.on("SIGUSR2", write);
  // A command-line run (the status benchmark) reports once more as it exits.
  process.on("exit", write);
  write();
}
