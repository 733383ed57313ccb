import { describe, expect, it } from "vitest";
import { readBackError } from "../../../provider/common/read-back";
import { ConntrackError } from "../../../provider/errors";
import { ConnectionSchema } from "../../../provider/connection/schema";

describe("readBackError", () => {
  it("says what reads otherwise, names host and command, and what typically rewrites the value", () => {
    const conn = ConnectionSchema.parse({ host: "10.0.0.5", user: "root" });
    const e = readBackError(conn, "apply x", ["a reads 1 after writing 2", "b does not hold the content written"], "kube-proxy");
    expect(e).toBeInstanceOf(ConntrackError);
    expect(e.host).toBe("root@10.0.0.5:22");
    expect(e.command).toBe("apply x");
    expect(e.hint).toBe("something on the host rewrites the value (kube-proxy); find and stop it, then run again");
    expect(e.message.split("\n")[0]).toBe(
      "root@10.0.0.5:22: the host does not show what was written: a reads 1 after writing 2; b does not hold the content written",
    );
  });
});
