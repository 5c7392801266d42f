//go:build tools

// Package tools pins the Dapr runtime programs this project builds for local runs and tests: dapr's full
// daprd (make install DAPRD_COMPONENTS=all; the default is the lean one in ./daprd, which needs no pin); sentry,
// the certificate authority that gives each sidecar its mTLS identity; and the operator, which streams
// Component resources to sidecars in Kubernetes mode (the managed-runtime end-to-end test). The dapr CLI is
// pinned separately in dapr/tools-cli, at an older release.
package tools

import (
	_ "github.com/dapr/dapr/cmd/daprd"
	_ "github.com/dapr/dapr/cmd/operator"
	_ "github.com/dapr/dapr/cmd/sentry"
)
