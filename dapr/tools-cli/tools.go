//go:build tools

// Package tools pins the dapr CLI, which starts the plane's sidecars from a run file (scripts/run.sh).
package tools

import _ "github.com/dapr/cli"
