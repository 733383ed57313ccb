import * as path from "node:path";

/**
 * Each type's `__provider` text, serialized by the SDK's own closure serializer from the built
 * package's thin provider: what a program run stores in every resource.
 */
export async function serializedProviders(types: readonly string[]): Promise<Record<string, string>> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { serializeFunction } = require("@pulumi/pulumi/runtime") as typeof import("@pulumi/pulumi/runtime");
  // The built package, as the program would import it (the serialized text requires it by name).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { thinProvider } = require(path.resolve(__dirname, "..", "dist", "provider", "common", "thin-provider.js"));
  const out: Record<string, string> = {};
  for (const t of types) {
    const p = thinProvider(t.split(":").pop());
    out[t] = (await serializeFunction(() => p, { allowSecrets: false })).text;
  }
  return out;
}
