//go:build tools

// Package tools pins the Pulumi CLI this repository tests against. Nothing here is compiled into
// the package: scripts/pulumi-cli.sh runs `go build` of the CLI's main package by import path in
// this module, so the versions in go.mod/go.sum decide exactly what is built (no source is copied).
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
