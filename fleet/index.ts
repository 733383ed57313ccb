/**
 * The fleet program: every host in stack config `hosts` gets what its profile asks for. It uses the
 * package by name, as any user's program does.
 *
 *   pulumi config set --path 'hosts[0]' ...   (or edit Pulumi.<stack>.yaml; see Pulumi.lab.yaml)
 *   pulumi up
 */
import * as pulumi from "@pulumi/pulumi";
import { ConntrackHelperSetting, ModuleBlacklist, NotrackServicePort } from "pulumi-conntrack";
import { loadFleet } from "./config";

const fleet = loadFleet();

/** Per host: what was declared, for `pulumi stack output`. */
const summary: Record<string, pulumi.Output<unknown>> = {};

for (const h of fleet.hosts) {
  const profile = fleet.profiles[h.profile];
  const connection = fleet.connectionFor(h);
  const parts: Record<string, pulumi.Input<unknown>> = { address: h.address, profile: h.profile };

  if (profile.helperAssignment !== undefined) {
    const helper = new ConntrackHelperSetting(`${h.name}-helper`, { connection, enabled: profile.helperAssignment });
    parts.helperToggle = helper.toggle;
  }
  for (const n of profile.notrack ?? []) {
    const port = new NotrackServicePort(`${h.name}-notrack-${String(n.port).replace(/[^A-Za-z0-9]/g, "-")}`, { connection, ...n });
    parts[`notrack-${n.port}`] = pulumi.all(port.rules.map((r) => r.ruleText));
  }
  if (profile.keepOut) {
    const bl = new ModuleBlacklist(`${h.name}-keep-out`, { connection, ...profile.keepOut });
    parts.keepOutEffective = bl.effective;
    parts.keepOutNotes = bl.notes;
  }
  summary[h.name] = pulumi.output(parts);
}

export const hosts = summary;
