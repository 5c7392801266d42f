package fleetsim

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/internal/gqlclient"
)

type answer struct {
	status int
	body   string
	seen   int
}

func (a *answer) RoundTrip(r *http.Request) (*http.Response, error) {
	a.seen++
	_, _ = io.ReadAll(r.Body) // the agent's request reaches the gateway whole
	return &http.Response{StatusCode: a.status, Body: io.NopCloser(strings.NewReader(a.body)), Header: http.Header{}}, nil
}

func post(t *testing.T, rt http.RoundTripper, query string, vars map[string]any) *http.Response {
	t.Helper()
	body, err := gqlclient.Encode(query, vars)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "https://gateway/governor/graphql", bytes.NewReader(body))
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	if string(got) == "" {
		t.Fatal("the answer's body must stay readable for the agent's client")
	}
	return resp
}

func TestReportWatchTimesAppliedReports(t *testing.T) {
	f := New(Config{})
	f.SetPhase("fanout")
	a := newAgent(f, "rt-1")
	a.markerOf[3] = "http://x/v3"
	ok := &answer{status: 200, body: `{"data":{"reportConfigurationStatus":{"revision":3,"status":"APPLIED"}}}`}
	w := reportWatch{next: ok, a: a}

	post(t, w, `mutation reportConfigurationStatus($runtimeID: ID!) { x }`, map[string]any{"runtimeID": "rt-1", "revision": 3, "status": "APPLIED"})
	if _, rep := a.Seen("http://x/v3"); rep.IsZero() {
		t.Fatal("an answered APPLIED report of a marked revision must be noted")
	}
	if len(f.Reports.Between(a.reported["http://x/v3"].Add(-1e9), a.reported["http://x/v3"].Add(1e9))) != 1 {
		t.Fatal("the report's round trip must be kept")
	}

	post(t, w, `query runtimeConfiguration($runtimeID: ID!) { x }`, map[string]any{"runtimeID": "rt-1"})
	if ok.seen != 2 || f.Errors.Total("") != 0 {
		t.Fatalf("other requests pass through untouched: %d sent, %d errors", ok.seen, f.Errors.Total(""))
	}

	refused := &answer{status: 504, body: `{"error":{"code":"UPSTREAM_TIMEOUT","message":"governor did not answer in time"}}`}
	a.markerOf[4] = "http://x/v4"
	post(t, reportWatch{next: refused, a: a}, `mutation reportConfigurationStatus($runtimeID: ID!) { x }`, map[string]any{"revision": 4, "status": "APPLIED"})
	if _, rep := a.Seen("http://x/v4"); !rep.IsZero() {
		t.Fatal("a refused report must not count as taken")
	}
	if s := f.Errors.Summary(); len(s) != 1 || !strings.Contains(s[0], "UPSTREAM_TIMEOUT") || !strings.Contains(s[0], "report") {
		t.Fatalf("errors: %v", s)
	}
}
