package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/mgmtplane/mgmtplane/apps/gateway/authn"
	"github.com/mgmtplane/mgmtplane/apps/internal/heartbeatbatch"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// runtimeHeader authenticates a test runtime by a header naming it (a stand-in for its client certificate).
type runtimeHeader struct{}

func (runtimeHeader) Applies(c *gin.Context) bool { return c.GetHeader("X-Test-Runtime") != "" }
func (runtimeHeader) Authenticate(c *gin.Context) (identity.Identity, error) {
	who := c.GetHeader("X-Test-Runtime")
	if who == "alice" {
		return identity.Identity{Tenant: "acme", Subject: who, ConsumerType: identity.ConsumerUser}, nil
	}
	scopes, _ := identity.ConsumerScopes(identity.ConsumerRuntime)
	return identity.Identity{Tenant: "acme", Subject: who, ConsumerType: identity.ConsumerRuntime, Scopes: scopes}, nil
}

// batchDirector plays the Director's heartbeats method: it verifies each item's assertion and refuses the
// runtimes in refuse.
type batchDirector struct {
	t       *testing.T
	err     error
	refuse  map[string]bool
	mu      sync.Mutex
	batches [][]string
}

func (d *batchDirector) Do(_ context.Context, appID, httpMethod, method string, _ http.Header, body io.Reader) (*http.Response, error) {
	if d.err != nil {
		return nil, d.err
	}
	if appID != "director" || httpMethod != http.MethodPost || method != heartbeatbatch.Method {
		d.t.Errorf("batch sent to %s %s %s", appID, httpMethod, method)
	}
	var req heartbeatbatch.Request
	if err := json.NewDecoder(body).Decode(&req); err != nil {
		d.t.Errorf("batch unreadable: %v", err)
	}
	var resp heartbeatbatch.Response
	var ids []string
	for _, it := range req.Heartbeats {
		ids = append(ids, it.RuntimeID)
		c, err := kit.Verifier("director").Verify(context.Background(), it.Assertion)
		switch {
		case err != nil || c.Subject != it.RuntimeID || c.ConsumerType != identity.ConsumerRuntime:
			d.t.Errorf("item %s carries %+v (%v)", it.RuntimeID, c, err)
			resp.Results = append(resp.Results, heartbeatbatch.Result{Code: "UNAUTHENTICATED", Message: "bad assertion"})
		case d.refuse[it.RuntimeID]:
			resp.Results = append(resp.Results, heartbeatbatch.Result{Code: "NOT_FOUND", Message: "runtime not found"})
		default:
			resp.Results = append(resp.Results, heartbeatbatch.Result{})
		}
	}
	d.mu.Lock()
	d.batches = append(d.batches, ids)
	d.mu.Unlock()
	raw, _ := json.Marshal(resp)
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(string(raw)))}, nil
}

func (d *batchDirector) Ready(context.Context) error { return nil }

func heartbeatRouter(t *testing.T, d *batchDirector, window time.Duration, max int) http.Handler {
	log := slog.New(slog.DiscardHandler)
	beats := newHeartbeats(log, d, kit.Signer, "director", window, max, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go beats.run(ctx)
	return newRouter(log, d, kit.Signer, routeConfig{
		Services:   map[string]service{"director": {AppID: "director", Auth: authn.Authenticate(runtimeHeader{})}},
		Heartbeats: beats, MaxBodyBytes: 1 << 10,
	})
}

func beat(h http.Handler, who, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/director/heartbeat", strings.NewReader(body))
	if who != "" {
		req.Header.Set("X-Test-Runtime", who)
	}
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHeartbeatsTravelTogetherAndEachGetsItsOwnAnswer(t *testing.T) {
	d := &batchDirector{t: t, refuse: map[string]bool{"rt-2": true}}
	// A long window and a batch of three: the batch closes when the third heartbeat arrives.
	h := heartbeatRouter(t, d, time.Minute, 3)
	recs := make([]*httptest.ResponseRecorder, 3)
	var wg sync.WaitGroup
	for i := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("rt-%d", i+1)
			recs[i] = beat(h, id, `{"runtimeID":"`+id+`"}`)
		}()
	}
	wg.Wait()
	if len(d.batches) != 1 || len(d.batches[0]) != 3 {
		t.Fatalf("batches %v, want one of three", d.batches)
	}
	for i, want := range []int{200, 404, 200} {
		if recs[i].Code != want {
			t.Errorf("rt-%d: %d %s, want %d", i+1, recs[i].Code, recs[i].Body, want)
		}
	}
	if !strings.Contains(recs[1].Body.String(), `"NOT_FOUND"`) || recs[0].Body.String() != `{"runtimeID":"rt-1"}` {
		t.Errorf("answers %s / %s", recs[0].Body, recs[1].Body)
	}

	// A lone heartbeat goes out when the window ends.
	h = heartbeatRouter(t, d, 20*time.Millisecond, 100)
	if rec := beat(h, "rt-9", `{"runtimeID":"rt-9"}`); rec.Code != 200 || len(d.batches) != 2 {
		t.Errorf("lone heartbeat: %d %s, batches %v", rec.Code, rec.Body, d.batches)
	}
}

func TestHeartbeatsRefusedAtTheGateway(t *testing.T) {
	d := &batchDirector{t: t}
	h := heartbeatRouter(t, d, time.Millisecond, 10)
	for _, tc := range []struct {
		name, who, body string
		status          int
		code            string
	}{
		{"no credentials", "", `{"runtimeID":"rt-1"}`, 401, "UNAUTHENTICATED"},
		{"not a runtime", "alice", `{"runtimeID":"rt-1"}`, 403, "FORBIDDEN"},
		{"no runtime id", "rt-1", `{}`, 400, "INVALID_INPUT"},
		{"not JSON", "rt-1", `rt-1`, 400, "INVALID_INPUT"},
		{"body too large", "rt-1", `{"runtimeID":"` + strings.Repeat("x", 5000) + `"}`, 413, "BODY_TOO_LARGE"},
	} {
		rec := beat(h, tc.who, tc.body)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), `"`+tc.code+`"`) {
			t.Errorf("%s: %d %s, want %d %s", tc.name, rec.Code, rec.Body, tc.status, tc.code)
		}
	}
	if len(d.batches) != 0 {
		t.Errorf("refused heartbeats went on: %v", d.batches)
	}

	// The Director's sidecar unreachable: every heartbeat of the batch hears so, without the address.
	d.err = fmt.Errorf("dial tcp 127.0.0.1:3500: %w", syscall.ECONNREFUSED)
	rec := beat(h, "rt-1", `{"runtimeID":"rt-1"}`)
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "UPSTREAM_UNAVAILABLE") || strings.Contains(rec.Body.String(), "127.0.0.1") {
		t.Errorf("director unreachable: %d %s", rec.Code, rec.Body)
	}
}
