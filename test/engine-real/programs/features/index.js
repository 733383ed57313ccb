// Test program of the real-engine tier (test/engine-real): declares the resources listed in stack
// config on lab hosts, through the package by name as a user's program would, with the resource
// options the engine features under test need. Plain JavaScript so that the repo's typecheck never
// needs the built package.

const fs = require("fs");
const pulumi = require("@pulumi/pulumi");
const conntrack = require("pulumi-conntrack");

const cfg = new pulumi.Config();
/** @type {{name: string, address: string, hostKey: string}[]} */
const hosts = cfg.requireObject("hosts");
const privateKey = pulumi.secret(fs.readFileSync(cfg.require("keyFile"), "utf8"));
/**
 * `hostFrom`: the connection's host is an output of that (earlier) resource: its id, mapped to the
 * host's address, so it is unknown in a preview where that resource is still to be made.
 * `opts`: protect, ignoreChanges, deleteBeforeReplace, and `aliases` as earlier names.
 * @type {{kind: string, name: string, host: string, args?: object, hostFrom?: string,
 *   opts?: {protect?: boolean, ignoreChanges?: string[], deleteBeforeReplace?: boolean, aliases?: string[]}}[]}
 */
const resources = cfg.requireObject("resources");
// `failAfter`: once the first N resources exist, the program throws (a program failing half-way).
const failAfter = cfg.getNumber("failAfter");

const classes = {
  ConntrackHelperSetting: conntrack.ConntrackHelperSetting,
  NotrackRule: conntrack.NotrackRule,
  ModuleBlacklist: conntrack.ModuleBlacklist,
};

const made = {};
function declare(r) {
  const Cls = classes[r.kind];
  if (!Cls) throw new Error(`pulumi-conntrack exports no ${r.kind}`);
  const h = hosts.find((x) => x.name === r.host);
  if (!h) throw new Error(`no host ${r.host} in config 'hosts'`);
  const host = r.hostFrom ? made[r.hostFrom].id.apply(() => h.address) : h.address;
  const connection = { host, user: "root", privateKey, hostKey: h.hostKey };
  const o = r.opts || {};
  const opts = {
    ...(o.protect !== undefined ? { protect: o.protect } : {}),
    ...(o.ignoreChanges ? { ignoreChanges: o.ignoreChanges } : {}),
    ...(o.deleteBeforeReplace !== undefined ? { deleteBeforeReplace: o.deleteBeforeReplace } : {}),
    ...(o.aliases ? { aliases: o.aliases.map((name) => ({ name })) } : {}),
  };
  made[r.name] = new Cls(r.name, { connection, ...(r.args || {}) }, opts);
}

async function main() {
  for (const [i, r] of resources.entries()) {
    if (failAfter !== undefined && i === failAfter) {
      // Wait until what was declared so far exists, then fail: the rest is never declared.
      await Promise.all(Object.values(made).map((m) => new Promise((res) => m.id.apply(res))));
      throw new Error(`failing on purpose after ${failAfter} resources`);
    }
    declare(r);
  }
  return { ids: Object.fromEntries(Object.entries(made).map(([n, res]) => [n, res.id])) };
}

module.exports = main();
