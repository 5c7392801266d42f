// Package e2e tests the management plane end to end: real daprd sidecars, real redis, the apps' own
// binaries, reached only through the gateway as a client would.
package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
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
			{ID: "governor", Env: map[string]string{"ROLLOUT_TICK": "250ms"}},
			{ID: "gateway"},
		},
		Registry: os.Getenv("MP_E2E_REGISTRY"),
		Build:    []string{"runtime-agent", "demo-logger", "provisioner", "broker", "cockpit"},
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
	if code == 0 {
		code = checkAudit()
	}
	stopLocalRuntimes()
	keep := code != 0 && os.Getenv("MP_E2E_KEEP") == "1"
	if code != 0 {
		fmt.Fprintln(os.Stderr, stack.LogTail(30))
	}
	stack.Stop(keep)
	return code
}

// checkAudit verifies that every mutation the suite got executed left an audit record on the audit topic.
func checkAudit() int {
	want := stacktest.MutationsAnswered.Load()
	host, port, _ := strings.Cut(stack.RedisAddr, ":")
	var got int64
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		out, err := exec.Command("redis-cli", "-h", host, "-p", port, "XLEN", "audit").Output()
		if err == nil {
			got, _ = strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		}
		if got >= want {
			fmt.Printf("e2e: %d audit records for %d mutations executed by the suite\n", got, want)
			return 0
		}
	}
	fmt.Fprintf(os.Stderr, "e2e: %d audit records on the audit topic, want one for each of the %d mutations\n", got, want)
	return 1
}
