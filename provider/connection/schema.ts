import { z } from "zod";
import { parseHostKey } from "../transport/hostkey";

/** Seconds a single dial may take before it counts as one failed attempt (`@pulumi/command` default). */
export const DEFAULT_PER_DIAL_TIMEOUT = 15;
/** Longest `perDialTimeout` in seconds: Node's timers overflow beyond 2^31-1 ms. */
export const MAX_PER_DIAL_TIMEOUT = Math.floor((2 ** 31 - 1) / 1000);
/** Failed dials tolerated before giving up (`@pulumi/command` default; -1 means unlimited). */
export const DEFAULT_DIAL_ERROR_LIMIT = 10;

const hostName = z
  .string()
  .min(1, "must not be empty")
  .max(253)
  // A host name or an IP literal: nothing that a shell, ssh option parser or URL could misread.
  .regex(/^[A-Za-z0-9._:%-]+$/, "must be a host name or an IP address")
  .refine((h) => !h.startsWith("-"), "must not start with '-'");

const userName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z_][A-Za-z0-9._-]*\$?$/, "must be a POSIX user name");

const endpointFields = {
  host: hostName,
  port: z.number().int().min(1).max(65535).default(22),
  user: userName.default("root"),
  password: z.string().optional(),
  privateKey: z.string().optional(),
  privateKeyPassword: z.string().optional(),
  agentSocketPath: z.string().optional(),
  dialErrorLimit: z.number().int().min(-1).default(DEFAULT_DIAL_ERROR_LIMIT),
  // Node's timers hold at most 2^31-1 ms: a longer timeout would silently become 1 ms.
  perDialTimeout: z
    .number()
    .int()
    .min(0)
    .max(MAX_PER_DIAL_TIMEOUT, `must be at most ${MAX_PER_DIAL_TIMEOUT} seconds (about 24 days)`)
    .default(DEFAULT_PER_DIAL_TIMEOUT),
  // Refused here rather than at the first dial: a key that cannot be parsed can never match.
  hostKey: z
    .string()
    .min(1)
    .superRefine((v, ctx) => {
      try {
        parseHostKey(v);
      } catch (e) {
        ctx.addIssue({ code: "custom", message: (e as Error).message });
      }
    })
    .optional(),
};

/** The bastion a connection is tunnelled through: the fields of `@pulumi/command`'s `ProxyConnection`. */
export const ProxySchema = z.object(endpointFields).strict();

/**
 * The connection input of every resource: the fields of `@pulumi/command`'s `remote.ConnectionArgs`,
 * with the same defaults, plus `sudo` for a non-root user with passwordless sudo.
 */
export const ConnectionSchema = z
  .object({
    ...endpointFields,
    proxy: ProxySchema.optional(),
    sudo: z.boolean().default(false),
  })
  .strict();

/** A connection after validation and defaults. */
export type Connection = z.output<typeof ConnectionSchema>;
/** A bastion after validation and defaults. */
export type ProxyEndpoint = z.output<typeof ProxySchema>;
/** What a user may pass: `remote.ConnectionArgs` resolved to plain values, plus `sudo`. */
export type ConnectionInput = z.input<typeof ConnectionSchema>;

/** `user@host:port` (with the bastion when there is one): how errors and outputs name a host. */
export function hostLabel(c: Pick<Connection, "host" | "port" | "user"> & { proxy?: ProxyEndpoint }): string {
  const h = c.host.includes(":") ? `[${c.host}]` : c.host;
  const base = `${c.user}@${h}:${c.port}`;
  return c.proxy ? `${base} via ${hostLabel(c.proxy)}` : base;
}

/**
 * The identity of a pooled SSH connection: every resource whose connection has the same key shares
 * one connection. Credentials are part of the key (hashed in by the pool), so two programs that reach
 * the same host as the same user with different keys never share a session.
 */
export function endpointKey(c: Connection): string {
  const p = c.proxy;
  return JSON.stringify([c.host, c.port, c.user, p ? [p.host, p.port, p.user] : null]);
}

/**
 * The machine a connection reaches, whoever logs in: {@link endpointKey} without the users. What
 * one login changes there, every other login sees (the host snapshot is dropped per machine).
 */
export function machineKey(c: Connection): string {
  const p = c.proxy;
  return JSON.stringify([c.host, c.port, p ? [p.host, p.port] : null]);
}
