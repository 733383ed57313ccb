import type * as dynamic from "@pulumi/pulumi/dynamic";

/**
 * The provider object that Pulumi serializes into every resource's state. It holds only the type
 * name: each method requires the installed package by name at call time, so the serialized text is
 * a few hundred bytes, captures no connection, key or live object, and state written by an old
 * release runs with the code installed today.
 */
export function thinProvider(type: string): dynamic.ResourceProvider {
  return {
    async check(olds, news) {
      return require("pulumi-conntrack/runtime").handler(type).check(olds, news);
    },
    async diff(id, olds, news) {
      return require("pulumi-conntrack/runtime").handler(type).diff(id, olds, news);
    },
    async create(inputs) {
      return require("pulumi-conntrack/runtime").handler(type).create(inputs);
    },
    async read(id, props) {
      return require("pulumi-conntrack/runtime").handler(type).read(id, props);
    },
    async update(id, olds, news) {
      return require("pulumi-conntrack/runtime").handler(type).update(id, olds, news);
    },
    async delete(id, props) {
      return require("pulumi-conntrack/runtime").handler(type).delete(id, props);
    },
  };
}

/** Module part of every resource's type token: `pulumi-nodejs:dynamic/conntrack:<Type>`. */
export const TYPE_MODULE = "conntrack";
