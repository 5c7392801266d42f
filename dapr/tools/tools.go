//go:build tools

// Package tools pins the Dapr programs this project builds for local runs and tests: daprd, the dapr CLI
// and sentry, the certificate authority that gives each sidecar its mTLS identity.
package tools

import (
	_ "github.com/dapr/cli"
	_ "github.com/dapr/dapr/cmd/daprd"
	_ "github.com/dapr/dapr/cmd/sentry"
)
