// Makes `require("pulumi-conntrack")` resolve inside this repository, the way it does in a user's
// project: the serialized dynamic provider requires the package by name at call time, and the
// root fleet program and the test harness run from this directory.
"use strict";
const fs = require("fs");
const path = require("path");
const root = path.resolve(__dirname, "..");
const link = path.join(root, "node_modules", "pulumi-conntrack");
if (!fs.existsSync(path.join(root, "node_modules"))) process.exit(0);
try {
  const st = fs.lstatSync(link);
  if (st.isSymbolicLink()) process.exit(0);
  // A real install (a user's project) is left alone.
  process.exit(0);
} catch {
  fs.symlinkSync("..", link, "dir");
}
