package reconcile_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/planeapi"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/reconcile"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

// A periodic check an hour away: in these tests drift can only be found through the watch.
var watchOnly = reconcile.Config{PollWait: 25 * time.Second, FullFetchEvery: time.Hour, DriftCheckEvery: time.Hour, DriftSettle: 50 * time.Millisecond}

func bindingFile(s *stack, name string) string {
	return filepath.Join(s.sc.dir, "mgmtplane-agent-binding-"+name+".yaml")
}

func TestDeletedComponentIsReportedAndRestored(t *testing.T) {
	s := start(t, revision.Revision{RuntimeID: "rt-1", Number: 1, SecretsIncluded: true, Bindings: []revision.Binding{logging("http://a.example.com")}}, watchOnly)
	if r := s.nextReport(t, 5*time.Second); r.Status != "APPLIED" || len(r.Drift) != 0 {
		t.Fatalf("report %+v", r)
	}
	file := bindingFile(s, "logging")
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	missing := []revision.Difference{{Component: "logging", Kind: revision.Missing, Resource: revision.ResourceComponent}}
	r := s.nextReport(t, 5*time.Second)
	if r.Revision != 1 || r.Status != "DRIFTED" || !slices.Equal(r.Drift, missing) || !strings.Contains(r.Reason, "logging MISSING") {
		t.Fatalf("report %+v, want revision 1 DRIFTED with logging missing", r)
	}
	r = s.nextReport(t, 5*time.Second)
	if r.Revision != 1 || r.Status != "APPLIED" || !r.DriftCorrected || !slices.Equal(r.Drift, missing) {
		t.Fatalf("report %+v, want revision 1 APPLIED, the drift corrected", r)
	}
	if got, err := os.ReadFile(file); err != nil || string(got) != string(want) {
		t.Fatalf("restored file: %v\n%s", err, got)
	}
	// The correction's own writes are no drift.
	select {
	case r := <-s.gov.reports:
		t.Fatalf("report after the correction: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestEditedComponentAndSecretsAreReportedAndRestored(t *testing.T) {
	cfg := watchOnly
	cfg.DriftSettle = 300 * time.Millisecond
	s := start(t, revision.Revision{RuntimeID: "rt-1", Number: 1, SecretsIncluded: true, Bindings: []revision.Binding{logging("http://a.example.com")}}, cfg)
	if r := s.nextReport(t, 5*time.Second); r.Status != "APPLIED" {
		t.Fatalf("report %+v", r)
	}
	file := bindingFile(s, "logging")
	data, _ := os.ReadFile(file)
	if err := os.WriteFile(file, []byte(strings.Replace(string(data), "http://a.example.com", "http://evil.example.com", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	secrets := filepath.Join(filepath.Dir(s.sc.dir), "secrets", "secrets.json")
	if err := os.WriteFile(secrets, []byte(`{"logging": {"securityToken": "guessed"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []revision.Difference{
		{Component: "logging", Kind: revision.Modified, Resource: revision.ResourceComponent},
		{Component: "logging", Kind: revision.Modified, Resource: revision.ResourceSecret},
	}
	// Two writes, one settle: one DRIFTED report naming both, unless a busy machine let the settle time
	// pass between them; then the second is a drift of its own. Either way both are reported, no value
	// with them, and the last report is the correction.
	seen := map[revision.Difference]bool{}
	var r report
	for !(seen[want[0]] && seen[want[1]] && r.Status == "APPLIED") {
		r = s.nextReport(t, 5*time.Second)
		switch {
		case r.Status == "DRIFTED" && strings.Contains(r.Reason, "guessed"):
			t.Fatalf("a secret value in the report: %+v", r)
		case r.Status == "DRIFTED":
			for _, d := range r.Drift {
				seen[d] = true
			}
		case r.Status != "APPLIED" || !r.DriftCorrected:
			t.Fatalf("report %+v", r)
		}
	}
	if got, _ := os.ReadFile(file); string(got) != string(data) {
		t.Fatalf("component not restored:\n%s", got)
	}
	if got, _ := os.ReadFile(secrets); !strings.Contains(string(got), "t0k3n") {
		t.Fatal("secrets not restored")
	}
}

func TestReportOnlyDriftIsNotCorrected(t *testing.T) {
	rev := revision.Revision{RuntimeID: "rt-1", Number: 1, SecretsIncluded: true, DriftPolicy: revision.DriftReport, Bindings: []revision.Binding{logging("http://a.example.com")}}
	s := start(t, rev, watchOnly)
	if r := s.nextReport(t, 5*time.Second); r.Status != "APPLIED" {
		t.Fatalf("report %+v", r)
	}
	file := bindingFile(s, "logging")
	data, _ := os.ReadFile(file)
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if r := s.nextReport(t, 5*time.Second); r.Status != "DRIFTED" || len(r.Drift) != 1 || r.Drift[0].Kind != revision.Missing {
		t.Fatalf("report %+v", r)
	}
	select {
	case r := <-s.gov.reports:
		t.Fatalf("report-only drift reported again or corrected: %+v", r)
	case <-time.After(500 * time.Millisecond):
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("report-only drift restored: %v", err)
	}
	if st := s.loop.State(); st.Status != revision.Drifted || len(st.Drift) != 1 {
		t.Fatalf("state %+v", st)
	}
	// Put back by hand: the runtime runs the revision again, and the Governor hears it, uncorrected.
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := s.nextReport(t, 5*time.Second); r.Status != "APPLIED" || r.DriftCorrected || len(r.Drift) != 0 {
		t.Fatalf("report %+v", r)
	}
}

func TestUnexpectedComponentWithTheAgentsMarksIsRemoved(t *testing.T) {
	s := start(t, revision.Revision{RuntimeID: "rt-1", Number: 1, SecretsIncluded: true, Bindings: []revision.Binding{logging("http://a.example.com")}}, watchOnly)
	if r := s.nextReport(t, 5*time.Second); r.Status != "APPLIED" {
		t.Fatalf("report %+v", r)
	}
	// A copy of the agent's file under another name, as a restored backup might leave it.
	data, _ := os.ReadFile(bindingFile(s, "logging"))
	stray := bindingFile(s, "stray")
	if err := os.WriteFile(stray, []byte(strings.ReplaceAll(string(data), "name: logging", "name: stray")), 0o644); err != nil {
		t.Fatal(err)
	}
	r := s.nextReport(t, 5*time.Second)
	if r.Status != "DRIFTED" || !slices.Contains(r.Drift, revision.Difference{Component: "stray", Kind: revision.Unexpected, Resource: revision.ResourceComponent}) {
		t.Fatalf("report %+v", r)
	}
	if r := s.nextReport(t, 5*time.Second); r.Status != "APPLIED" || !r.DriftCorrected {
		t.Fatalf("report %+v", r)
	}
	if _, err := os.Stat(stray); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("unexpected component left: %v", err)
	}
}

// The periodic check finds drift the watch missed (here: there is no watch at all).
func TestPeriodicCheckFindsDriftWithoutTheWatch(t *testing.T) {
	cfg := watchOnly
	cfg.DriftCheckEvery = 100 * time.Millisecond
	s := start(t, revision.Revision{RuntimeID: "rt-1", Number: 1, SecretsIncluded: true, Bindings: []revision.Binding{logging("http://a.example.com")}}, cfg,
		func(ins reconcile.Inspector) reconcile.Inspector { return blind{ins} })
	if r := s.nextReport(t, 5*time.Second); r.Status != "APPLIED" {
		t.Fatalf("report %+v", r)
	}
	if err := os.Remove(bindingFile(s, "logging")); err != nil {
		t.Fatal(err)
	}
	if r := s.nextReport(t, 5*time.Second); r.Status != "DRIFTED" {
		t.Fatalf("report %+v", r)
	}
	if r := s.nextReport(t, 5*time.Second); r.Status != "APPLIED" || !r.DriftCorrected {
		t.Fatalf("report %+v", r)
	}
}

// blind compares like its inspector and sees no change.
type blind struct{ reconcile.Inspector }

func (blind) Watch(ctx context.Context, _ func()) error {
	<-ctx.Done()
	return nil
}

// Something that undoes every correction at once is not fought in a tight loop: corrections back off.
func TestCorrectionsBackOffWhenUndoneAgainAndAgain(t *testing.T) {
	gov := newGovernor(revision.Revision{RuntimeID: "rt-1", Number: 1, SecretsIncluded: true, Bindings: []revision.Binding{logging("http://a.example.com")}})
	gw := httptest.NewServer(gov)
	defer gw.Close()
	ins := &undone{}
	loop := reconcile.New(planeapi.New(gw.URL, gw.Client()), ins, nil, reconcile.Config{
		RuntimeID: "rt-1", PollWait: 25 * time.Second, FullFetchEvery: time.Hour,
		DriftCheckEvery: 20 * time.Millisecond, RetryMin: 50 * time.Millisecond, RetryMax: 400 * time.Millisecond,
	}, quiet)
	loop.WatchDrift(ins)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { loop.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	go func() {
		for range gov.reports {
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	ins.mu.Lock()
	n := ins.applies
	ins.mu.Unlock()
	// 1.5 s with checks every 20 ms: 75 chances; with backoff 50, 100, 200, 400, 400... ms, about 6 (and
	// the revision's own apply).
	if n < 3 || n > 12 {
		t.Fatalf("%d corrections in 1.5 s", n)
	}
}

// undone is an applier whose runtime always differs from what it applied.
type undone struct {
	mu      sync.Mutex
	applies int
}

func (u *undone) Apply(context.Context, revision.Revision) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.applies++
	return nil
}

func (u *undone) Diff(context.Context, revision.Revision) ([]revision.Difference, error) {
	return []revision.Difference{{Component: "logging", Kind: revision.Modified, Resource: revision.ResourceComponent}}, nil
}

func (u *undone) Watch(ctx context.Context, _ func()) error {
	<-ctx.Done()
	return nil
}
