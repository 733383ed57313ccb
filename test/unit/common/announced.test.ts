/** The engine's announced changes (provider/common/announced.ts): counted per lane and machine. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { announceChange, announcedChanges, changeArrived, resetAnnounced } from "../../../provider/common/announced";
import { ConnectionSchema } from "../../../provider/connection/schema";
import { preconnectSettings } from "../../../provider/transport/preconnect";

const conn = (host: string, user = "root") => ConnectionSchema.parse({ host, user, password: "pw" });
const saved = { ...preconnectSettings };
beforeEach(() => {
  resetAnnounced();
  preconnectSettings.enabled = true;
});
afterEach(() => Object.assign(preconnectSettings, saved));

describe("announced changes", () => {
  it("counts per lane and machine, whatever the login, until the engine asks for each", () => {
    announceChange("notrack-lane", conn("h1"));
    announceChange("notrack-lane", conn("h1", "admin"));
    announceChange("ModuleBlacklist", conn("h1"));
    announceChange("notrack-lane", conn("h2"));
    expect(announcedChanges(["notrack-lane"], conn("h1"))).toBe(2);
    expect(announcedChanges(["notrack-lane", "ModuleBlacklist"], conn("h1"))).toBe(3);
    changeArrived("notrack-lane", conn("h1"));
    changeArrived("notrack-lane", conn("h1"));
    // More arrivals than announcements (a change announced in another way) never go below 0.
    changeArrived("notrack-lane", conn("h1"));
    expect(announcedChanges(["notrack-lane"], conn("h1"))).toBe(0);
    expect(announcedChanges(["notrack-lane"], conn("h2"))).toBe(1);
  });

  it("announces nothing where connections are not opened ahead (tests that call handlers in process)", () => {
    preconnectSettings.enabled = false;
    announceChange("notrack-lane", conn("h1"));
    expect(announcedChanges(["notrack-lane"], conn("h1"))).toBe(0);
  });
});
