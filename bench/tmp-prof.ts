import { handler } from "../provider/runtime";
import { labForBench } from "./hosts";
import { fleetProgram } from "./program";
async function main() {
  const lab = labForBench(10);
  const prog = fleetProgram(lab.hosts, lab.privateKey);
  for (const round of [0, 1]) {
    for (const t of ["ConntrackHelperSetting", "NotrackRule", "ModuleBlacklist"]) {
      const rs = prog.filter((r) => r.type.endsWith(t));
      const h = handler(t);
      const t0 = performance.now();
      for (const r of rs) {
        const c = await h.check({}, r.inputs);
        await h.diff("x", c.inputs as never, c.inputs as never);
      }
      console.log(round, t, rs.length, ((performance.now() - t0) / rs.length).toFixed(2), "ms per check+diff");
    }
  }
}
main();
