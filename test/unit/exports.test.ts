import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import * as root from "../../provider";
import * as runtime from "../../provider/runtime";

// The package's public surface, pinned: what `import ... from "pulumi-conntrack"` offers a program
// (values and types), and what the serialized provider needs from `pulumi-conntrack/runtime`. A name
// added or removed here is a change of the public API and belongs in the changelog.
const ROOT_VALUES = [
  "AuthenticationError",
  "ConflictError",
  "ConntrackError",
  "ConntrackHelperRule",
  "ConntrackHelperSetting",
  "ConntrackTableSize",
  "DialTimeoutError",
  "HostKeyMismatchError",
  "InputError",
  "ModuleBlacklist",
  "NotrackRule",
  "NotrackServicePort",
  "RemoteCommandError",
  "TransportError",
  "UnreachableError",
  "UnsupportedError",
  "getConntrackStatus",
  "notrackServicePort",
];

const ROOT_TYPES = [
  "BlacklistMode",
  "ConnectionArgs",
  "ConntrackErrorDetails",
  "ConntrackHelperName",
  "ConntrackHelperRuleArgs",
  "ConntrackHelperRuleOutputs",
  "ConntrackHelperSettingArgs",
  "ConntrackTableSizeArgs",
  "ConntrackTimeoutsArgs",
  "GetConntrackStatusArgs",
  "HelperModuleOutput",
  "HelperSettingOutputs",
  "HostStatus",
  "InitramfsPolicy",
  "ModuleBlacklistArgs",
  "ModuleBlacklistOutputs",
  "NotrackBackendChoice",
  "NotrackChain",
  "NotrackCounter",
  "NotrackPersistence",
  "NotrackProtocol",
  "NotrackResolvedBackend",
  "NotrackRuleArgs",
  "NotrackRuleOutputs",
  "NotrackServicePortArgs",
  "PortSpec",
  "ProxyConnectionArgs",
  "ServiceRole",
  "StatName",
  "StatsSource",
  "TableSizeOutputs",
];

/**
 * Every name an index module exports, types included, read from its re-export statements (the
 * compiler's full checker over the SDK's types is too slow for the unit tier). An index holds only
 * re-exports, so a declaration of its own is refused rather than guessed at.
 */
function exportedNames(file: string): string[] {
  const source = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest);
  const names: string[] = [];
  for (const st of source.statements) {
    if (!ts.isExportDeclaration(st)) {
      if (ts.canHaveModifiers(st) && ts.getModifiers(st)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) {
        throw new Error(`${file}: declares an export of its own; an index only re-exports`);
      }
      continue;
    }
    if (st.exportClause && ts.isNamedExports(st.exportClause)) names.push(...st.exportClause.elements.map((e) => e.name.text));
    else if (!st.exportClause && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
      const base = path.resolve(path.dirname(file), st.moduleSpecifier.text);
      names.push(...exportedNames(fs.existsSync(`${base}.ts`) ? `${base}.ts` : path.join(base, "index.ts")));
    } else throw new Error(`${file}: unsupported export form`);
  }
  return names;
}

describe("public surface", () => {
  it("the root exports the resources, their arguments and outputs, and the errors: values", () => {
    expect(Object.keys(root).sort()).toEqual(ROOT_VALUES);
  });

  it("the root exports the resources, their arguments and outputs, and the errors: values and types", () => {
    const names = exportedNames(path.join(__dirname, "../../provider/index.ts"));
    expect(names.sort()).toEqual([...ROOT_VALUES, ...ROOT_TYPES].sort());
  });

  it("every exported error is a ConntrackError", () => {
    for (const name of ROOT_VALUES.filter((n) => n.endsWith("Error"))) {
      const E = (root as Record<string, unknown>)[name] as { prototype: unknown };
      expect(E.prototype instanceof root.ConntrackError || E === root.ConntrackError, name).toBe(true);
    }
  });

  it("pulumi-conntrack/runtime is what the serialized provider needs and nothing more", () => {
    // Beside the handlers: what a process that drives them itself, for more than one engine
    // operation (tests), needs: closing connections, and the per-operation host snapshot's switch
    // and reset (transport/snapshot.ts).
    expect(Object.keys(runtime).sort()).toEqual([
      "closeAll",
      "handler",
      "preconnectSettings",
      "registeredTypes",
      "resetPreconnect",
      "resetSnapshots",
      "snapshotSettings",
    ]);
    expect(runtime.registeredTypes().sort()).toEqual([
      "ConntrackHelperRule",
      "ConntrackHelperSetting",
      "ConntrackTableSize",
      "ModuleBlacklist",
      "NotrackRule",
    ]);
  });
});
