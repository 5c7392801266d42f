//go:build tools

// Package tools pins the Dapr programs this project builds for local runs and tests.
package tools

import (
	_ "github.com/dapr/cli"
	_ "github.com/dapr/dapr/cmd/daprd"
)
