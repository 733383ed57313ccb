/**
 * The `@pulumi/pulumi` releases the package is tested with as a consumer installs it. The peer
 * range in package.json is `^${SDK_LOW}` (test/unit/package.test.ts keeps the two together).
 */

/** Low end of the supported range. */
export const SDK_LOW = "3.142.0";

/**
 * The newest release that runs on Node 20 (3.249.0 and later declare `engines: node >= 22`). Raise it
 * when the supported Node changes; `npm view @pulumi/pulumi engines --json` lists them.
 */
export const SDK_NEWEST_NODE20 = "3.248.0";

/** Both, low end first. */
export const CONSUMER_SDK_VERSIONS = [SDK_LOW, SDK_NEWEST_NODE20] as const;
