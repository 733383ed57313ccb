import { describe, expect, it } from "vitest";
import { diffInputs } from "../../../provider/common/diff";
import { UNKNOWN } from "../../../provider/common/unknown";

const spec = { inputKeys: ["connection", "enabled"], replaceOn: ["connection.host", "connection.port"] };
const conn = { host: "a", port: 22, user: "root" };

describe("diffInputs", () => {
  it("reports no change for equal inputs, whatever the key order", () => {
    expect(
      diffInputs(
        { connection: { user: "root", port: 22, host: "a" }, enabled: false, other: 1 },
        { connection: conn, enabled: false },
        spec,
      ),
    ).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
  });
  it("updates in place for a setting and replaces for another host", () => {
    expect(diffInputs({ connection: conn, enabled: false }, { connection: conn, enabled: true }, spec)).toMatchObject({
      changes: true,
      replaces: [],
    });
    expect(diffInputs({ connection: conn, enabled: false }, { connection: { ...conn, host: "b" }, enabled: false }, spec)).toMatchObject({
      changes: true,
      replaces: ["connection"],
    });
  });
  it("treats an unknown host as a replacement during preview", () => {
    expect(diffInputs({ connection: conn }, { connection: { ...conn, host: UNKNOWN } }, spec).replaces).toEqual(["connection"]);
  });
  it("asks for delete-before-replace only when replacing", () => {
    const s = { ...spec, deleteBeforeReplace: true };
    expect(diffInputs({ connection: conn, enabled: false }, { connection: conn, enabled: true }, s).deleteBeforeReplace).toBe(false);
    expect(diffInputs({ connection: conn }, { connection: { ...conn, port: 2222 } }, s).deleteBeforeReplace).toBe(true);
  });
});
