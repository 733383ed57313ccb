import * as pulumi from "@pulumi/pulumi";

/**
 * The connection as every resource registers it: a secret, so that a password or private key given
 * as a plain string never lands in state in clear, neither among the inputs nor the outputs
 * (`@pulumi/command` does the same with its connection).
 */
export function secretConnection<T>(connection: pulumi.Input<T>): pulumi.Output<pulumi.Unwrap<T>> {
  return pulumi.secret(connection);
}

/** Resource options with `connection` added to `additionalSecretOutputs`. */
export function withSecretConnection(opts?: pulumi.CustomResourceOptions): pulumi.CustomResourceOptions {
  return { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "connection"] };
}

/** The fields of an SSH endpoint, as `@pulumi/command`'s `remote.ProxyConnectionArgs` has them. */
export interface SshEndpointArgs {
  host: pulumi.Input<string>;
  port?: pulumi.Input<number>;
  user?: pulumi.Input<string>;
  password?: pulumi.Input<string>;
  privateKey?: pulumi.Input<string>;
  privateKeyPassword?: pulumi.Input<string>;
  agentSocketPath?: pulumi.Input<string>;
  dialErrorLimit?: pulumi.Input<number>;
  perDialTimeout?: pulumi.Input<number>;
  hostKey?: pulumi.Input<string>;
}

/**
 * The `connection` argument of every resource: the shape of `@pulumi/command`'s
 * `types.input.remote.ConnectionArgs` (one object serves both packages), plus `sudo` for a non-root
 * user with passwordless sudo.
 */
export type ConnectionArgs = SshEndpointArgs & { proxy?: pulumi.Input<SshEndpointArgs>; sudo?: pulumi.Input<boolean> };
