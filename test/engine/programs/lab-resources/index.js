// Test program for the engine harness: declares the resources listed in stack config, each on a lab
// host, through the package by name as a user's program would. Plain JavaScript so that the repo's
// typecheck never needs the built package.

const fs = require("fs");
const pulumi = require("@pulumi/pulumi");
const conntrack = require("pulumi-conntrack");

const cfg = new pulumi.Config();
/** @type {{name: string, address: string, hostKey: string}[]} */
const hosts = cfg.requireObject("hosts");
// `omitKey`: connect with the password alone (to see what a failed login reports).
const keyText = cfg.getBoolean("omitKey") ? undefined : fs.readFileSync(cfg.require("keyFile"), "utf8");
// A user who passes the key as a plain string must still not find it in state (the resource marks
// its connection secret); the default path marks it secret in the program as the examples do.
const plainCredentials = cfg.getBoolean("plainCredentials") ?? false;
const password = plainCredentials ? cfg.get("password") : cfg.getSecret("password");
/** @type {{kind: string, name: string, host: string, args?: object, dependsOn?: string[]}[]} */
const resources = cfg.requireObject("resources");

const classes = {
  ConntrackHelperSetting: conntrack.ConntrackHelperSetting,
  NotrackRule: conntrack.NotrackRule,
  ModuleBlacklist: conntrack.ModuleBlacklist,
};

const made = {};
for (const r of resources) {
  const Cls = classes[r.kind];
  if (!Cls) throw new Error(`pulumi-conntrack exports no ${r.kind}`);
  const h = hosts.find((x) => x.name === r.host);
  if (!h) throw new Error(`no host ${r.host} in config 'hosts'`);
  const connection = {
    host: h.address,
    user: "root",
    ...(keyText === undefined ? {} : { privateKey: plainCredentials ? keyText : pulumi.secret(keyText) }),
    hostKey: h.hostKey,
    ...(password === undefined ? {} : { password }),
  };
  made[r.name] = new Cls(r.name, { connection, ...(r.args || {}) }, { dependsOn: (r.dependsOn || []).map((n) => made[n]) });
}

module.exports = { ids: Object.fromEntries(Object.entries(made).map(([n, res]) => [n, res.id])) };
