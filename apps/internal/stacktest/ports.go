package stacktest

import "github.com/mgmtplane/mgmtplane/apps/internal/freeport"

// FreePort returns a port nobody listens on, never the same one twice in a process (see package freeport).
func FreePort() (int, error) { return freeport.Port() }
