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
