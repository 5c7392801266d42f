package sidecar_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
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
			v := &sidecar.Verifier{Client: fakeSidecar(t, md), Timeout: 150 * time.Millisecond, Interval: 20 * time.Millisecond}
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
