/**
 * The identity of a resource's rule on the host: its tag, made from the rule name and a nonce, and
 * the deterministic prefix a retry of the same create recognises.
 */
import { createHash } from "node:crypto";
import { RULE_TAG_PREFIX } from "../../../common/markers";
import { TAG_PATTERN } from "./tag";

/** The comment that identifies one resource's rule: prefix, rule name, suffix. */
export function makeTag(ruleName: string, suffix: string): string {
  const tag = `${RULE_TAG_PREFIX}${ruleName}:${suffix}`;
  if (!TAG_PATTERN.test(tag)) throw new TypeError(`bad rule tag ${JSON.stringify(tag)}`);
  return tag;
}

/** What decides a resource's identity on the host, besides its rule name. */
export interface IdentitySource {
  /** Who the resource is (`project/stack/parent/name`, set by the `NotrackRule` class). */
  owner: string;
  ruleName: string;
  family: string;
  backend: string;
  host: string;
  port: number;
}

/**
 * The part of a tag that a retry of the same create recognises: `prefix:ruleName:<12 hex>.`, a hash
 * of the owner (project, stack, resource name: two stacks on one host never share it) and of what
 * a replacement changes (family, backend, host, port). Deterministic, so a create that was cut off
 * and runs again finds the rule its earlier attempt left and takes it over instead of adding a
 * second one.
 */
export function adoptPrefix(s: IdentitySource): string {
  const h = createHash("sha256")
    .update(JSON.stringify([s.owner, s.ruleName, s.family, s.backend, s.host, s.port]))
    .digest("hex")
    .slice(0, 12);
  return `${RULE_TAG_PREFIX}${s.ruleName}:${h}.`;
}

/**
 * A new resource's tag: its {@link adoptPrefix} and a random nonce. The create takes over (and
 * re-tags) any rule carrying the prefix: the leftover of an interrupted attempt, or the rule of the
 * resource it replaces; the nonce makes sure the replaced resource's delete, which removes its own
 * exact tag, never removes the new rule.
 */
export function tagWithPrefix(prefix: string, nonce: string): string {
  const tag = `${prefix}${nonce}`;
  if (!TAG_PATTERN.test(tag)) throw new TypeError(`bad rule tag ${JSON.stringify(tag)}`);
  return tag;
}
