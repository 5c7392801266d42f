// Package e2e tests the management plane end to end: real daprd sidecars, real redis, the apps' own
// binaries, reached only through the gateway as a client would.
package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
)

var stack *stacktest.Stack

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var err error
	stack, err = stacktest.Start(ctx, stacktest.Options{
		Apps: []stacktest.App{
			{ID: "director", Env: map[string]string{"OUTBOX_RELAY_INTERVAL": "1h"}},
			// Short application tokens, so that the suite can see one expire.
			{ID: "connector", Env: map[string]string{"TOKEN_TTL_APPLICATION": "3s"}},
			{ID: "governor"},
			{ID: "gateway"},
		},
		Registry: os.Getenv("MP_E2E_REGISTRY"),
		Build:    []string{"runtime-agent", "demo-logger"},
	})
	if errors.Is(err, stacktest.ErrNoDaprd) && !stacktest.Required() {
		fmt.Println("e2e: skipped:", err)
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start stack:", err)
		if stack != nil {
			stack.Stop(false)
		}
		return 1
	}
	code := m.Run()
	keep := code != 0 && os.Getenv("MP_E2E_KEEP") == "1"
	if code != 0 {
		fmt.Fprintln(os.Stderr, stack.LogTail(30))
	}
	stack.Stop(keep)
	return code
}
