import { describe, expect, it } from "vitest";
import { nftItems, nftObject, nftStatements } from "../../../provider/common/nft-json";
import { parseNftTables } from "../../../provider/resources/notrack-rule/observe";
import { parseNftListing } from "../../../provider/resources/notrack-rule/syntax/nft-rule";
import { parseNftCounters } from "../../../provider/status/parse";

describe("nft -j listings", () => {
  it("reads the items in order; blank text is none; text that is not JSON throws", () => {
    const json = JSON.stringify({ nftables: [{ metainfo: { json_schema_version: 1 } }, { table: { family: "inet", name: "t" } }] });
    expect(nftItems(json)).toEqual([{ metainfo: { json_schema_version: 1 } }, { table: { family: "inet", name: "t" } }]);
    expect(nftItems("")).toEqual([]);
    expect(nftItems(" \n")).toEqual([]);
    expect(() => nftItems("Error: No such file or directory")).toThrow(SyntaxError);
  });

  it("takes a document of another shape, and entries that are not objects, as no items", () => {
    expect(nftItems("{}")).toEqual([]);
    expect(nftItems('{"nftables": null}')).toEqual([]);
    expect(nftItems('{"nftables": {"table": {}}}')).toEqual([]);
    expect(nftItems("[]")).toEqual([]);
    expect(nftItems("null")).toEqual([]);
    expect(nftItems('{"nftables": [null, 1, "x", [], {"table": {"name": "t"}}]}')).toEqual([{ table: { name: "t" } }]);
  });

  it("gives an item's object and a rule's statements only where they are objects", () => {
    expect(nftObject({ rule: { chain: "c" } }, "rule")).toEqual({ chain: "c" });
    expect(nftObject({ rule: "x" }, "rule")).toBeUndefined();
    expect(nftObject({ rule: null }, "rule")).toBeUndefined();
    expect(nftObject({ table: {} }, "rule")).toBeUndefined();
    expect(nftStatements({ expr: [{ notrack: null }, null, 3, { counter: { packets: 1 } }] })).toEqual([
      { notrack: null },
      { counter: { packets: 1 } },
    ]);
    expect(nftStatements({ expr: "x" })).toEqual([]);
    expect(nftStatements({})).toEqual([]);
  });

  it("serves every reader the same way: odd entries are skipped, not a crash", () => {
    const odd = JSON.stringify({
      nftables: [
        null,
        { table: { family: "inet", name: "pulumi_conntrack" } },
        { table: "inet pulumi_conntrack" },
        {
          rule: {
            family: "inet",
            table: "pulumi_conntrack",
            chain: "prerouting",
            handle: 4,
            comment: "pulumi-conntrack:dns",
            expr: [null, { counter: { packets: 7, bytes: 700 } }, { notrack: null }],
          },
        },
        { rule: null },
      ],
    });
    expect(parseNftTables(odd)).toEqual(["inet pulumi_conntrack"]);
    expect(parseNftListing(odd)).toEqual([
      {
        chain: "prerouting",
        handle: 4,
        comment: "pulumi-conntrack:dns",
        expr: [null, { counter: { packets: 7, bytes: 700 } }, { notrack: null }],
      },
    ]);
    const { counters, unreadable } = parseNftCounters(odd);
    expect(unreadable).toBeUndefined();
    expect(counters).toEqual([
      { tag: "pulumi-conntrack:dns", backend: "nftables", family: "inet", chain: "prerouting", packets: 7, bytes: 700 },
    ]);
  });
});
