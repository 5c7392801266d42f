//go:build tools

// Package tools pins the Dapr programs this project builds for local runs and tests: daprd, the dapr CLI,
// sentry, the certificate authority that gives each sidecar its mTLS identity, and the operator, which
// streams Component resources to sidecars in Kubernetes mode (the managed-runtime end-to-end test).
package tools

import (
	_ "github.com/dapr/cli"
	_ "github.com/dapr/dapr/cmd/daprd"
	_ "github.com/dapr/dapr/cmd/operator"
	_ "github.com/dapr/dapr/cmd/sentry"
)
