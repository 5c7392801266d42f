package reconcile_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/component"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/planeapi"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/reconcile"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/sidecar"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/standalone"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// governor is a fake of the Governor's GraphQL API behind the gateway: a long poll answers as soon as a
// revision above afterRevision exists, or when waitSeconds have passed.
type governor struct {
	mu      sync.Mutex
	current revision.Revision
	changed chan struct{} // closed and replaced on every publish
	// deaf makes long polls hang until the client gives up, as if their answers were lost.
	deaf    bool
	reports chan report
}

type report struct {
	Revision       int
	Status         string
	Reason         string
	Drift          []revision.Difference
	DriftCorrected bool
}

func newGovernor(rev revision.Revision) *governor {
	return &governor{current: rev, changed: make(chan struct{}), reports: make(chan report, 16)}
}

func (g *governor) publish(rev revision.Revision) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.current = rev
	close(g.changed)
	g.changed = make(chan struct{})
}

func (g *governor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.URL.Path != "/governor/graphql" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.Contains(req.Query, "runtimeConfiguration("):
		after := int(req.Variables["afterRevision"].(float64))
		wait := time.Duration(req.Variables["waitSeconds"].(float64)) * time.Second
		deadline := time.After(wait)
		for {
			g.mu.Lock()
			cur, changed, deaf := g.current, g.changed, g.deaf
			g.mu.Unlock()
			if wait > 0 && deaf {
				<-r.Context().Done()
				return
			}
			if cur.Number > after || wait == 0 {
				_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"runtimeConfiguration": cur}})
				return
			}
			select {
			case <-changed:
			case <-deadline:
				wait = 0
			case <-r.Context().Done():
				return
			}
		}
	case strings.Contains(req.Query, "reportConfigurationStatus("):
		rep := report{Revision: int(req.Variables["revision"].(float64)), Status: req.Variables["status"].(string)}
		if s, ok := req.Variables["reason"].(string); ok {
			rep.Reason = s
		}
		if d, ok := req.Variables["drift"]; ok && d != nil {
			raw, _ := json.Marshal(d)
			_ = json.Unmarshal(raw, &rep.Drift)
		}
		rep.DriftCorrected, _ = req.Variables["driftCorrected"].(bool)
		g.reports <- rep
		_, _ = io.WriteString(w, `{"data":{"reportConfigurationStatus":true}}`)
	default:
		http.Error(w, "unknown operation", http.StatusBadRequest)
	}
}

// daprd fakes a sidecar's metadata API: it lists the components in the resources folder, except those it
// "fails to initialise" (refuse), which Dapr with ignoreErrors leaves out of the list.
type daprd struct {
	dir    string
	mu     sync.Mutex
	refuse map[string]bool
}

func (d *daprd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1.0/metadata" {
		http.NotFound(w, r)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	md := sidecar.Metadata{ID: "demo-logger", Components: []sidecar.Component{}}
	entries, _ := os.ReadDir(d.dir)
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		data, _ := os.ReadFile(filepath.Join(d.dir, e.Name()))
		comps, _ := component.Parse(data)
		for _, c := range comps {
			if !d.refuse[c.Metadata.Name] {
				md.Components = append(md.Components, sidecar.Component{Name: c.Metadata.Name, Type: c.Spec.Type, Version: c.Spec.Version})
			}
		}
	}
	_ = json.NewEncoder(w).Encode(md)
}

type stack struct {
	gov  *governor
	sc   *daprd
	loop *reconcile.Loop
	app  *standalone.Applier
}

// start runs a loop on a real resources folder; watch, when given, changes how it watches for drift.
func start(t *testing.T, first revision.Revision, cfg reconcile.Config, watch ...func(reconcile.Inspector) reconcile.Inspector) *stack {
	t.Helper()
	root := t.TempDir()
	res := filepath.Join(root, "resources")
	app, err := standalone.New(standalone.Config{
		Dir: res, SecretsFile: filepath.Join(root, "secrets", "secrets.json"),
		SecretStoreName: "mgmtplane-agent-secrets", FilePrefix: "mgmtplane-agent-", RuntimeID: "rt-1", IgnoreErrors: true,
	}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{gov: newGovernor(first), sc: &daprd{dir: res, refuse: map[string]bool{}}, app: app}
	gw := httptest.NewServer(s.gov)
	sc := httptest.NewServer(s.sc)
	t.Cleanup(gw.Close)
	t.Cleanup(sc.Close)
	ver := &sidecar.Verifier{Client: sidecar.NewClient(sc.URL, ""), Timeout: 2 * time.Second, Settle: 20 * time.Millisecond, Interval: 20 * time.Millisecond}
	cfg.RuntimeID = "rt-1"
	cfg.RetryMin, cfg.RetryMax = 20*time.Millisecond, 100*time.Millisecond
	s.loop = reconcile.New(planeapi.New(gw.URL, gw.Client()), app, ver, cfg, quiet)
	// Drift detection runs in every test: none of them may see the agent's own writes as drift.
	var ins reconcile.Inspector = app
	for _, w := range watch {
		ins = w(ins)
	}
	s.loop.WatchDrift(ins)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.loop.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func (s *stack) nextReport(t *testing.T, within time.Duration) report {
	t.Helper()
	select {
	case r := <-s.gov.reports:
		return r
	case <-time.After(within):
		t.Fatalf("no status report within %s", within)
		return report{}
	}
}

func logging(url string) revision.Binding {
	return revision.Binding{
		Name: "logging", Type: "bindings.http",
		Metadata:       []revision.Item{{Name: "url", Value: url}},
		SecretMetadata: []revision.Item{{Name: "securityToken", Value: "t0k3n"}},
	}
}

func TestLongPollRevisionIsAppliedAndReported(t *testing.T) {
	// The fallback fetch runs once at start and then not for an hour: revision 2 can only come by long poll.
	s := start(t, revision.Revision{RuntimeID: "rt-1", Number: 1, SecretsIncluded: true, Bindings: []revision.Binding{logging("http://a.example.com")}},
		reconcile.Config{PollWait: 25 * time.Second, FullFetchEvery: time.Hour})
	if r := s.nextReport(t, 5*time.Second); r.Revision != 1 || r.Status != "APPLIED" {
		t.Fatalf("report %+v, want revision 1 APPLIED", r)
	}

	published := time.Now()
	s.gov.publish(revision.Revision{RuntimeID: "rt-1", Number: 2, SecretsIncluded: true, Bindings: []revision.Binding{
		logging("http://b.example.com"),
		{Name: "ticker", Type: "bindings.cron", Metadata: []revision.Item{{Name: "schedule", Value: "@every 1s"}}},
	}})
	r := s.nextReport(t, 5*time.Second)
	if r.Revision != 2 || r.Status != "APPLIED" || r.Reason != "" {
		t.Fatalf("report %+v, want revision 2 APPLIED", r)
	}
	// Learning takes one long-poll answer; applying and confirming take the verifier's settle time.
	if took := time.Since(published); took > time.Second {
		t.Errorf("revision 2 took %s from publication to report, want under a second", took)
	}
	if st := s.loop.State(); st.Revision != 2 || st.Status != revision.Applied {
		t.Errorf("state %+v", st)
	}
}

func TestComponentMissingFromSidecarIsReportedFailed(t *testing.T) {
	s := start(t, revision.Revision{RuntimeID: "rt-1", Number: 1, SecretsIncluded: true, Bindings: []revision.Binding{logging("http://a.example.com")}},
		reconcile.Config{PollWait: 25 * time.Second, FullFetchEvery: time.Hour})
	if r := s.nextReport(t, 5*time.Second); r.Status != "APPLIED" {
		t.Fatalf("report %+v", r)
	}

	// The sidecar fails to initialise "db" (say, the database is unreachable); with ignoreErrors it stays up
	// and simply does not list the component.
	s.sc.mu.Lock()
	s.sc.refuse["db"] = true
	s.sc.mu.Unlock()
	s.gov.publish(revision.Revision{RuntimeID: "rt-1", Number: 2, SecretsIncluded: true, Bindings: []revision.Binding{
		logging("http://a.example.com"),
		{Name: "db", Type: "bindings.postgresql", SecretMetadata: []revision.Item{{Name: "connectionString", Value: "host=nowhere"}}},
	}})
	r := s.nextReport(t, 5*time.Second)
	if r.Revision != 2 || r.Status != "FAILED" || !strings.Contains(r.Reason, "db (bindings.postgresql) is not loaded") {
		t.Fatalf("report %+v, want revision 2 FAILED naming db", r)
	}
}

func TestInvalidRevisionIsReportedFailedWithoutWriting(t *testing.T) {
	s := start(t, revision.Revision{RuntimeID: "rt-1", Number: 4, SecretsIncluded: true, Bindings: []revision.Binding{
		{Name: "mystery", Type: "bindings.teleport"},
	}}, reconcile.Config{PollWait: 25 * time.Second, FullFetchEvery: time.Hour})
	r := s.nextReport(t, 5*time.Second)
	if r.Revision != 4 || r.Status != "FAILED" || !strings.Contains(r.Reason, `unknown type "bindings.teleport"`) {
		t.Fatalf("report %+v", r)
	}
	entries, _ := os.ReadDir(s.sc.dir)
	for _, e := range entries {
		if !e.IsDir() {
			t.Errorf("file %s written for an invalid revision", e.Name())
		}
	}
}

func TestFullFetchCatchesUpWhenLongPollsAreLost(t *testing.T) {
	s := start(t, revision.Revision{RuntimeID: "rt-1", Number: 1, SecretsIncluded: true, Bindings: []revision.Binding{logging("http://a.example.com")}},
		reconcile.Config{PollWait: 25 * time.Second, FullFetchEvery: 200 * time.Millisecond})
	if r := s.nextReport(t, 5*time.Second); r.Revision != 1 {
		t.Fatalf("report %+v", r)
	}
	s.gov.mu.Lock()
	s.gov.deaf = true
	s.gov.mu.Unlock()
	// The long poll already waiting hangs as well: revision 2 can only arrive through the fallback fetch.
	s.gov.publish(revision.Revision{RuntimeID: "rt-1", Number: 2, SecretsIncluded: true, Bindings: []revision.Binding{logging("http://c.example.com")}})
	r := s.nextReport(t, 5*time.Second)
	if r.Revision != 2 || r.Status != "APPLIED" {
		t.Fatalf("report %+v, want revision 2 APPLIED through the full fetch", r)
	}
}

func TestRevisionZeroClearsLeftoversAndIsNotReported(t *testing.T) {
	s := start(t, revision.Revision{RuntimeID: "rt-1", Number: 0}, reconcile.Config{PollWait: time.Second, FullFetchEvery: time.Hour})
	deadline := time.Now().Add(5 * time.Second)
	for s.loop.State().Revision != 0 {
		if time.Now().After(deadline) {
			t.Fatal("revision 0 never handled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case r := <-s.gov.reports:
		t.Fatalf("revision 0 reported: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
}

// flaky fails its first applies with an error that says it is temporary, as the Kubernetes writer does
// when the API server stays away longer than its own retries.
type flaky struct {
	mu       sync.Mutex
	failures int
	applied  []int
}

type awayErr struct{}

func (awayErr) Error() string   { return "kubernetes API unavailable" }
func (awayErr) Temporary() bool { return true }

func (f *flaky) Apply(_ context.Context, rev revision.Revision) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failures > 0 {
		f.failures--
		return awayErr{}
	}
	f.applied = append(f.applied, rev.Number)
	return nil
}

// A revision that failed because the API server was away is tried again on its own: the Governor first
// hears FAILED with the reason, then APPLIED, without a new configuration.
func TestRevisionFailedForAPassingReasonIsTriedAgain(t *testing.T) {
	gov := newGovernor(revision.Revision{RuntimeID: "rt-1", Number: 3, SecretsIncluded: true, Bindings: []revision.Binding{logging("http://a.example.com")}})
	gw := httptest.NewServer(gov)
	defer gw.Close()
	app := &flaky{failures: 2}
	loop := reconcile.New(planeapi.New(gw.URL, gw.Client()), app, nil, reconcile.Config{
		RuntimeID: "rt-1", PollWait: 25 * time.Second, FullFetchEvery: time.Hour, RetryMin: 20 * time.Millisecond, RetryMax: 50 * time.Millisecond,
	}, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { loop.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	next := func() report {
		select {
		case r := <-gov.reports:
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("no report")
			return report{}
		}
	}
	for range 2 {
		if r := next(); r.Revision != 3 || r.Status != "FAILED" || !strings.Contains(r.Reason, "unavailable") {
			t.Fatalf("report %+v, want revision 3 FAILED with the reason", r)
		}
	}
	if r := next(); r.Revision != 3 || r.Status != "APPLIED" {
		t.Fatalf("report %+v, want revision 3 APPLIED after the retries", r)
	}
	app.mu.Lock()
	defer app.mu.Unlock()
	if len(app.applied) != 1 || app.applied[0] != 3 {
		t.Fatalf("applied %v", app.applied)
	}
}
