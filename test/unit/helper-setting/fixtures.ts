import { parseFacts } from "../../../provider/transport/facts";
import type { ToggleValue } from "../../../provider/resources/helper-setting/managed-file";
import type { HelperObservation, ObservedFile, OutsideSetting } from "../../../provider/resources/helper-setting/observe";
import type { PreviousRecord } from "../../../provider/resources/helper-setting/previous-record";

/** A host as the planner sees it, described in a few words. */
export interface HostShape {
  kernel: string;
  nf: "loaded" | "builtin" | "module" | "absent";
  live?: ToggleValue;
  param?: "Y" | "N";
  modinfo?: boolean;
  file?: ObservedFile;
  outside?: OutsideSetting[];
  /** The host-side record of earlier values (none by default). */
  previousRecord?: PreviousRecord;
}

/** Builds an observation the way parseObservation would from such a host. */
export function host(s: HostShape): HelperObservation {
  const facts = parseFacts(
    [`kernel=${s.kernel}`, "uid=0", `nf_conntrack=${s.nf}`, ...(s.live === undefined ? [] : [`helper_sysctl=${s.live}`])].join("\n"),
  );
  return {
    facts,
    sysctlPresent: s.live !== undefined,
    live: s.live ?? null,
    moduleParameter: s.param ?? null,
    modinfoHasToggle: s.modinfo ?? null,
    file: s.file ?? { kind: "absent" },
    outside: s.outside ?? [],
    previousRecord: s.previousRecord ?? { kind: "none" },
  };
}

/** Named host shapes covering every branch of toggle detection. */
export const HOSTS = {
  /** This machine: 6.x with nf_conntrack built in. */
  k618builtin: { kernel: "6.18.44-fc-v669", nf: "builtin" },
  /** Debian bookworm: 6.1 with nf_conntrack loaded as a module. */
  k61loaded: { kernel: "6.1.0-28-amd64", nf: "loaded" },
  /** 6.1, module not loaded, modinfo lists no toggle. */
  k61notLoaded: { kernel: "6.1.0-28-amd64", nf: "module", modinfo: false },
  /** 6.0 without modinfo: the version decides. */
  k60noModinfo: { kernel: "6.0.7", nf: "module" },
  /** A vendor 5.14 kernel that backported the removal: loaded, no sysctl. */
  vendor514removed: { kernel: "5.14.0-427.el9.x86_64", nf: "loaded" },
  /** Debian bullseye, loaded, value 0. */
  k510loaded0: { kernel: "5.10.0-32-amd64", nf: "loaded", live: 0, param: "N" },
  /** Debian bullseye, loaded, value 1 (someone turned it on). */
  k510loaded1: { kernel: "5.10.0-32-amd64", nf: "loaded", live: 1, param: "Y" },
  /** Bullseye, not loaded; modinfo lists the toggle. */
  k510notLoaded: { kernel: "5.10.0-32-amd64", nf: "module", modinfo: true },
  /** 5.10 with nf_conntrack built in, value 1. */
  k510builtin1: { kernel: "5.10.0-custom", nf: "builtin", live: 1, param: "Y" },
  /** Ubuntu 16.04: 4.4, default on, not loaded, no modinfo. */
  k44notLoaded: { kernel: "4.4.0-210-generic", nf: "module" },
  /** No nf_conntrack at all on a 5.4 kernel. */
  k54absent: { kernel: "5.4.0-1", nf: "absent" },
  /** 3.2: before the toggle. */
  k32loaded: { kernel: "3.2.0-4-amd64", nf: "loaded" },
  /** A release that is not a version. */
  weird: { kernel: "custom", nf: "module" },
} satisfies Record<string, HostShape>;

/** A regular file with this content. */
export function file(content: string): ObservedFile {
  return { kind: "file", content };
}

/** A modprobe.d line elsewhere. */
export function modprobeLine(path: string, value: ToggleValue, line = 1): OutsideSetting {
  return { source: "modprobe", path, line, text: `options nf_conntrack nf_conntrack_helper=${value}`, value };
}
