package nrcache

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	nr "github.com/dapr/components-contrib/nameresolution"
	"github.com/dapr/components-contrib/nameresolution/sqlite"
	"github.com/dapr/kit/logger"
)

// The cache over components-contrib's sqlite resolver, as the lean daprd registers it: it takes the
// configuration with cacheTTL in it, and finds an app again at its new port after the app restarts.
func TestSqliteRestartedAppFound(t *testing.T) {
	db := filepath.Join(t.TempDir(), "nameresolution.db")
	log := logger.NewLogger("nrcache.test")
	ctx := context.Background()
	register := func(appID string, port int, r nr.Resolver, cfg map[string]any) {
		t.Helper()
		err := r.Init(ctx, nr.Metadata{
			Instance:      nr.Instance{AppID: appID, Address: "127.0.0.1", DaprInternalPort: port},
			Configuration: cfg,
		})
		if err != nil {
			t.Fatalf("%s: %v", appID, err)
		}
	}

	director := sqlite.NewResolver(log)
	register("director", 40001, director, map[string]any{"connectionString": db})
	gateway := New(sqlite.NewResolver(log), log)
	register("gateway", 40002, gateway, map[string]any{"connectionString": db, "cacheTTL": "300ms"})
	t.Cleanup(func() { _ = gateway.Close() })

	req := nr.ResolveRequest{ID: "director", Port: 40002}
	if addr, err := gateway.ResolveID(ctx, req); err != nil || addr != "127.0.0.1:40001" {
		t.Fatalf("director: %q, %v", addr, err)
	}
	if _, err := gateway.ResolveID(ctx, nr.ResolveRequest{ID: "nobody"}); err == nil {
		t.Error("an app that is not registered was resolved")
	}

	// The director restarts on another port: its old registration goes at Close, the new one comes at Init.
	if err := director.Close(); err != nil {
		t.Fatal(err)
	}
	restarted := sqlite.NewResolver(log)
	register("director", 40003, restarted, map[string]any{"connectionString": db})
	t.Cleanup(func() { _ = restarted.Close() })

	deadline := time.Now().Add(5 * time.Second)
	for {
		addr, err := gateway.ResolveID(ctx, req)
		if err == nil && addr == "127.0.0.1:40003" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted director is still resolved as %q, %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
