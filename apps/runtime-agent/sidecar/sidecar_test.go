package sidecar_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/sidecar"
)

func fakeSidecar(t *testing.T, body string) *sidecar.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1.0/metadata" || r.Header.Get("dapr-api-token") != "tok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return sidecar.NewClient(srv.URL, "tok")
}

func TestVerify(t *testing.T) {
	const md = `{"id":"demo-logger","components":[{"name":"logging","type":"bindings.http","version":"v1"},{"name":"old","type":"bindings.cron","version":"v1"}]}`
	for _, tc := range []struct {
		name     string
		bindings []revision.Binding
		gone     []string
		wantErr  string
	}{
		{name: "loaded", bindings: []revision.Binding{{Name: "logging", Type: "bindings.http"}}},
		{name: "scoped to another app is not expected here", bindings: []revision.Binding{
			{Name: "logging", Type: "bindings.http"}, {Name: "elsewhere", Type: "bindings.http", Scopes: []string{"other-app"}},
		}},
		{name: "missing", bindings: []revision.Binding{{Name: "db", Type: "bindings.postgresql"}}, wantErr: `db (bindings.postgresql) is not loaded by app "demo-logger"`},
		{name: "wrong type", bindings: []revision.Binding{{Name: "logging", Type: "bindings.graphql"}}, wantErr: "loaded as bindings.http"},
		{name: "removed but still loaded", gone: []string{"old"}, wantErr: "old is still loaded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &sidecar.Verifier{Client: fakeSidecar(t, md), Timeout: 500 * time.Millisecond, Interval: 20 * time.Millisecond}
			err := v.Verify(context.Background(), tc.bindings, tc.gone)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, sidecar.ErrNotLoaded)):
				t.Fatalf("err %v, want ErrNotLoaded with %q", err, tc.wantErr)
			}
		})
	}
}

// A busy sidecar whose answer is still on its way when the time is up must not hide what an earlier answer
// showed: the report names the missing component, not the deadline.
func TestVerifyKeepsTheLastAnswerWhenTheDeadlineCutsALookShort(t *testing.T) {
	const md = `{"id":"demo-logger","components":[{"name":"logging","type":"bindings.http","version":"v1"}]}`
	var looks atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if looks.Add(1) > 1 {
			select { // every later look hangs past the verifier's deadline
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		_, _ = w.Write([]byte(md))
	}))
	defer srv.Close()
	defer close(release)

	v := &sidecar.Verifier{Client: sidecar.NewClient(srv.URL, ""), Timeout: time.Second, Interval: 10 * time.Millisecond}
	err := v.Verify(context.Background(), []revision.Binding{{Name: "db", Type: "bindings.postgresql"}}, nil)
	if !errors.Is(err, sidecar.ErrNotLoaded) || !strings.Contains(err.Error(), "db (bindings.postgresql) is not loaded") {
		t.Fatalf("err %v, want ErrNotLoaded naming db", err)
	}
	if looks.Load() < 2 {
		t.Fatalf("%d looks, want the second one cut short by the deadline", looks.Load())
	}
}
