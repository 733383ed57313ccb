/**
 * Setup of the unit tier: its tests call the handlers in one process, operation after operation,
 * with made-up hosts. Connections opened ahead of a change (provider/transport/preconnect.ts) are
 * for a provider process that lives for one engine operation, so they are off here;
 * `test/unit/transport/preconnect.test.ts` turns them on over a stand-in pool. Set through the
 * environment, not by importing the module: a test file's module mocks apply only to modules it
 * loads after this.
 */
process.env.CONNTRACK_SSH_PRECONNECT = "0";
