import type { Observation, ModuleFacts } from "../../../provider/resources/module-blacklist/observation";
import type { LoadedModule } from "../../../provider/resources/module-blacklist/unload-order";
import { parseFacts } from "../../../provider/transport/facts";

/** The seed case as the Debian 5.10 VM shows it after `iptables-legacy -t nat -L`. */
export const NAT_LOADED: LoadedModule[] = [
  { name: "iptable_nat", state: "live", refcnt: 0, holders: [] },
  { name: "nf_nat", state: "live", refcnt: 1, holders: ["iptable_nat"] },
  { name: "nf_conntrack", state: "live", refcnt: 1, holders: ["nf_nat"] },
  { name: "nf_defrag_ipv4", state: "live", refcnt: 1, holders: ["nf_conntrack"] },
  { name: "nf_defrag_ipv6", state: "live", refcnt: 1, holders: ["nf_conntrack"] },
  { name: "libcrc32c", state: "live", refcnt: 2, holders: ["nf_conntrack", "nf_nat"] },
  { name: "ip_tables", state: "live", refcnt: 1, holders: ["iptable_nat"] },
  { name: "x_tables", state: "live", refcnt: 1, holders: ["ip_tables"] },
  { name: "ext4", state: "live", refcnt: 1, holders: [] },
];

export function loadedMap(list: LoadedModule[]): Map<string, LoadedModule> {
  return new Map(list.map((m) => [m.name, m]));
}

/** An observation of a modular 5.10 host; override what a test needs. */
export function observation(
  over: Partial<Observation> & { loadedList?: LoadedModule[]; moduleFacts?: Partial<ModuleFacts>[] } = {},
): Observation {
  const loaded = loadedMap(over.loadedList ?? []);
  const modules = new Map<string, ModuleFacts>();
  for (const f of over.moduleFacts ?? []) {
    const name = f.name!;
    modules.set(name, { name, loaded: loaded.has(name), builtIn: false, available: true, ...f });
  }
  const { loadedList: _l, moduleFacts: _m, ...rest } = over;
  return {
    facts: parseFacts("kernel=5.10.0-32-amd64\nuid=0\nnf_conntrack=module\nos.ID=debian\nos.VERSION_ID=11"),
    modulesSupported: true,
    builtinListAvailable: true,
    depListAvailable: true,
    modules,
    loaded,
    file: { kind: "absent" },
    config: { install: new Map(), blacklist: new Set() },
    initramfs: null,
    notrackRules: [],
    ...rest,
  };
}

/** Facts for modules that exist as loadable modules and are not loaded. */
export function available(...names: string[]): Partial<ModuleFacts>[] {
  return names.map((name) => ({ name }));
}

/** A regular file observation. */
export function fileObs(content: string, mode = "644", mtime = 1000): Observation["file"] {
  return { kind: "file", content, base64: Buffer.from(content).toString("base64"), mode, mtime };
}
