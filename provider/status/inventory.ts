/** One host to read, with the per-host overrides an inventory may give. */
export interface InventoryHost {
  host: string;
  port?: number;
  user?: string;
  key?: string;
  sudo?: boolean;
}

/** An inventory: defaults and hosts. */
export interface Inventory {
  user?: string;
  key?: string;
  port?: number;
  sudo?: boolean;
  hosts: InventoryHost[];
}

function scalar(raw: string): string | number | boolean {
  let v = raw.trim();
  if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) return v.slice(1, -1);
  if (v === "true" || v === "yes") return true;
  if (v === "false" || v === "no") return false;
  if (/^\d+$/.test(v)) return Number(v);
  v = v.replace(/\s+#.*$/, "");
  return v;
}

function stripComment(line: string): string {
  if (/^\s*#/.test(line)) return "";
  return line.replace(/\s+#(?=(?:[^"']|"[^"]*"|'[^']*')*$).*$/, "");
}

/**
 * Parses `--inventory`: JSON, or the small YAML subset this command documents (top-level
 * `user`/`key`/`port`/`sudo`, and `hosts:` as a list of addresses or of maps with
 * `host`/`port`/`user`/`key`/`sudo`). Anything else is refused with its line number rather than
 * guessed at. Pure.
 */
export function parseInventory(text: string): Inventory {
  const t = text.trim();
  if (t.startsWith("{") || t.startsWith("[")) return normalize(JSON.parse(t));
  const root: Record<string, unknown> = {};
  let list: Array<Record<string, unknown> | string> | undefined;
  let item: Record<string, unknown> | undefined;
  let itemIndent = -1;
  text.split("\n").forEach((raw, i) => {
    const line = stripComment(raw).replace(/\s+$/, "");
    if (line.trim() === "" || line.trim() === "---") return;
    const indent = line.length - line.trimStart().length;
    const body = line.trim();
    const bad = (why: string) => new Error(`inventory line ${i + 1}: ${why}: ${raw.trim()}`);
    if (indent === 0) {
      item = undefined;
      const m = /^([A-Za-z_]+):\s*(.*)$/.exec(body);
      if (!m) throw bad("expected `key: value` or `hosts:`");
      if (m[1] === "hosts") {
        if (m[2] !== "") throw bad("hosts must be a list on the following lines");
        list = [];
        root.hosts = list;
      } else root[m[1]] = scalar(m[2]);
      return;
    }
    if (!list) throw bad("indented line outside `hosts:`");
    if (body.startsWith("- ") || body === "-") {
      const rest = body.slice(1).trim();
      const kv = /^([A-Za-z_]+):\s*(.*)$/.exec(rest);
      if (kv) {
        item = { [kv[1]]: scalar(kv[2]) };
        itemIndent = indent + 2;
        list.push(item);
      } else {
        item = undefined;
        list.push(String(scalar(rest)));
      }
      return;
    }
    const kv = /^([A-Za-z_]+):\s*(.*)$/.exec(body);
    if (!kv || !item || indent < itemIndent) throw bad("expected `key: value` of the host above");
    item[kv[1]] = scalar(kv[2]);
  });
  return normalize(root);
}

function normalize(raw: unknown): Inventory {
  const r = (Array.isArray(raw) ? { hosts: raw } : raw) as Record<string, unknown>;
  const hosts = (Array.isArray(r.hosts) ? r.hosts : []).map((h, i): InventoryHost => {
    if (typeof h === "string") return { host: h };
    const o = h as Record<string, unknown>;
    const host = o.host ?? o.address;
    if (typeof host !== "string" || host === "") throw new Error(`inventory host ${i + 1}: needs host (or address)`);
    return {
      host,
      ...(typeof o.port === "number" ? { port: o.port } : {}),
      ...(typeof o.user === "string" ? { user: o.user } : {}),
      ...(typeof o.key === "string" ? { key: o.key } : {}),
      ...(typeof o.sudo === "boolean" ? { sudo: o.sudo } : {}),
    };
  });
  if (hosts.length === 0) throw new Error("inventory lists no hosts (expected `hosts:` with at least one entry)");
  return {
    hosts,
    ...(typeof r.user === "string" ? { user: r.user } : {}),
    ...(typeof r.key === "string" ? { key: r.key } : {}),
    ...(typeof r.port === "number" ? { port: r.port } : {}),
    ...(typeof r.sudo === "boolean" ? { sudo: r.sudo } : {}),
  };
}

/** `host`, `host:port`, `[v6]:port` or a bare IPv6 address from `--hosts`. Pure. */
export function parseHostArg(s: string): InventoryHost {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) return v6[2] ? { host: v6[1], port: Number(v6[2]) } : { host: v6[1] };
  const m = /^([^:]+):(\d+)$/.exec(s);
  if (m) return { host: m[1], port: Number(m[2]) };
  return { host: s };
}
