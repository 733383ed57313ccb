/**
 * One provider process for the fault tier's "two provider processes on one host" test: loads the
 * installed package's runtime by name (as the serialized provider does), reads
 * `{"type", "op": "create"|"delete", "items": [...]}` as JSON on stdin, runs every item's
 * check + create (or delete) at once, as the engine would, and prints one JSON result per item.
 */
"use strict";
const { handler, closeAll } = require("pulumi-conntrack/runtime");

async function main() {
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  const { type, op, items } = JSON.parse(input);
  const h = handler(type);
  const results = await Promise.all(
    items.map(async (item) => {
      try {
        if (op === "create") {
          const c = await h.check({}, item);
          if (c.failures) return { ok: false, error: `check: ${JSON.stringify(c.failures)}` };
          const r = await h.create(c.inputs);
          return { ok: true, id: r.id, outs: r.outs };
        }
        await h.delete(item.id, item.outs);
        return { ok: true };
      } catch (e) {
        return { ok: false, error: String((e && e.message) || e) };
      }
    }),
  );
  await closeAll();
  process.stdout.write(JSON.stringify(results));
}

main().catch((e) => {
  process.stderr.write(String((e && e.stack) || e));
  process.exit(1);
});
