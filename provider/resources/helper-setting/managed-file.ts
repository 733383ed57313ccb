import { MANAGED_FILE_HEADER } from "../../common/markers";

/** A value of the toggle as `/proc/sys/net/netfilter/nf_conntrack_helper` shows it. */
export type ToggleValue = 0 | 1;

/**
 * `options nf_conntrack ... nf_conntrack_helper=V ...`. modprobe treats `-` and `_` alike in module
 * names, and the kernel's parameter parser does the same in parameter names, so `nf-conntrack` and
 * `nf_conntrack-helper` are the same setting.
 */
const HELPER_OPTION = /^\s*options\s+nf[-_]conntrack\s+(?:.*\s)?nf[-_]conntrack[-_]helper=(\S*)/;

/** An `options nf_conntrack` line with nothing on it but the helper toggle. */
const HELPER_ONLY_OPTION = /^\s*options\s+nf[-_]conntrack\s+nf[-_]conntrack[-_]helper=\S*\s*$/;

/** The content this resource writes to its file to persist `value`. */
export function managedFileContent(value: ToggleValue): string {
  return [
    MANAGED_FILE_HEADER,
    "# ConntrackHelperSetting: automatic conntrack helper assignment, read when nf_conntrack loads (kernels 3.5 to 5.19).",
    `options nf_conntrack nf_conntrack_helper=${value}`,
    "",
  ].join("\n");
}

/** True when `content` starts with the header every file of this package carries. */
export function isManagedContent(content: string): boolean {
  return content.split("\n", 1)[0] === MANAGED_FILE_HEADER;
}

/** One `nf_conntrack_helper` module option found in a modprobe configuration file. */
export interface HelperOptionLine {
  /** 1-based line number. */
  line: number;
  /** The line as written. */
  text: string;
  /** The value the kernel would parse: 0 or 1, or null when it would refuse it. */
  value: ToggleValue | null;
}

/** Parses a module-parameter boolean the way the kernel's `param_set_bool` does (`kstrtobool`). */
export function parseBoolParam(raw: string): ToggleValue | null {
  const c = raw.charAt(0).toLowerCase();
  if (c === "1" || c === "y") return 1;
  if (c === "0" || c === "n") return 0;
  if (c === "o") {
    const d = raw.charAt(1).toLowerCase();
    if (d === "n") return 1;
    if (d === "f") return 0;
  }
  return null;
}

/** The helper option lines of a modprobe configuration text, in order (the last one wins). */
export function helperOptionLines(content: string): HelperOptionLine[] {
  const out: HelperOptionLine[] = [];
  content.split("\n").forEach((text, i) => {
    const m = HELPER_OPTION.exec(text);
    if (m) out.push({ line: i + 1, text, value: parseBoolParam(m[1]) });
  });
  return out;
}

/**
 * Lines of a file found at the managed path that this resource could not take over without losing a
 * setting: anything but blank lines, comments and `options nf_conntrack nf_conntrack_helper=...`.
 */
export function foreignSettings(content: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  content.split("\n").forEach((text, i) => {
    const t = text.trim();
    if (t === "" || t.startsWith("#") || HELPER_ONLY_OPTION.test(text)) return;
    out.push({ line: i + 1, text });
  });
  return out;
}
