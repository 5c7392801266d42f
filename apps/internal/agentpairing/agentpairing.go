// Package agentpairing is the small contract between a Runtime Agent and whoever hands it one-time tokens
// (the Provisioner): which token the agent last paired with, and why pairing with a newer one failed. The
// agent never shows a token, only its SHA-256, so the status can sit where others read it (an annotation
// on the agent's pairing Secret in a cluster, its /healthz).
package agentpairing

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// Annotation is where an agent in a cluster reports its Status (as JSON) on its pairing Secret.
const Annotation = "mgmtplane.io/pairing"

// Status is how an agent's pairing stands.
type Status struct {
	// PairedTokenSHA256 is the hash of the token the agent's current certificate was paired with.
	PairedTokenSHA256 string `json:"pairedTokenSHA256,omitempty"`
	// Error is why pairing with the token hashed as ErrorTokenSHA256 failed; the agent keeps its current
	// certificate meanwhile. Empty once that token (or a later one) paired.
	Error            string    `json:"error,omitempty"`
	ErrorTokenSHA256 string    `json:"errorTokenSHA256,omitempty"`
	At               time.Time `json:"at"`
}

// TokenSHA256 is the hex SHA-256 of a token as the agent reads it (surrounding space dropped, as a token
// file written with a trailing newline is the same token).
func TokenSHA256(token string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return hex.EncodeToString(sum[:])
}
