package fleetsim

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/connectorclient"
	"github.com/mgmtplane/mgmtplane/apps/internal/gqlclient"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/credentials"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/heartbeat"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/planeapi"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/reconcile"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

// Agent is one simulated runtime agent. It is the real agent's machinery — the credentials manager that
// pairs through the Connector and presents the client certificate, the planeapi client over the gateway's
// TLS listener, the heartbeat loop and the reconcile loop (long poll, fallback fetch, report) — with two
// things left out because they concern only the runtime itself: writing components to disk (the applier
// validates the revision, as the real appliers do first, and keeps it in memory) and asking the runtime's
// sidecar whether it loaded them. What it records, it records around the real calls.
type Agent struct {
	ID    string
	fleet *Fleet
	creds *credentials.Manager
	api   *planeapi.Client
	// probe, when set, is told when a heartbeat is sent (heartbeat → status probes).
	probe atomic.Pointer[func(sent time.Time)]

	mu        sync.Mutex
	firstBeat time.Time            // first heartbeat answered
	seen      map[string]time.Time // marker → when an answer of the Governor first carried it
	reported  map[string]time.Time // marker → when the Governor took the APPLIED report of it
	markerOf  map[int]string       // effective revision → its marker
}

func newAgent(f *Fleet, id string) *Agent {
	return &Agent{ID: id, fleet: f, seen: map[string]time.Time{}, reported: map[string]time.Time{}, markerOf: map[int]string{}}
}

// pair runs the agent's Bootstrap with token: the Connector's configuration and CSR signing, through the
// gateway's plain listener, and a client certificate signed by the Connector's CA.
func (a *Agent) pair(ctx context.Context, token string) error {
	a.creds = credentials.New(connector{f: a.fleet}, credentials.Config{
		Token: func() (string, error) { return token, nil },
		// The real agent also reads its token file every TOKEN_POLL_INTERVAL; that touches only its disk.
		RetryMin: time.Second,
		RetryMax: 5 * time.Second,
		RootCAs:  a.fleet.cfg.GatewayCA,
	}, a.fleet.log)
	if err := a.creds.Bootstrap(ctx); err != nil {
		return fmt.Errorf("pair runtime %s: %w", a.ID, err)
	}
	a.api = planeapi.New(a.fleet.cfg.GatewaySecureURL, &http.Client{Transport: reportWatch{next: a.creds.HTTPClient().Transport, a: a}})
	return nil
}

// run does what the agent's main does once it has credentials, until ctx ends.
func (a *Agent) run(ctx context.Context) {
	f := a.fleet
	loop := reconcile.New(source{Client: a.api, a: a}, applier{}, nil, reconcile.Config{
		RuntimeID:      a.ID,
		PollWait:       f.cfg.PollWait,
		FullFetchEvery: f.cfg.FullFetchEvery,
		RetryMin:       time.Second,
		RetryMax:       30 * time.Second, // min(RETRY_MAX, 30s), as the agent's main sets it
	}, f.log)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); _ = a.creds.Run(ctx) }()
	go func() { defer wg.Done(); heartbeat.Run(ctx, f.log, beater{a}, a.ID, f.cfg.HeartbeatInterval) }()
	go func() { defer wg.Done(); loop.Run(ctx) }()
	wg.Wait()
	// The agent's connection to the gateway stays open until its transport's idle timeout (90 s): the
	// credentials manager's rotating transport offers no way to close it sooner. A next fleet started
	// within that time shares the gateway with idle connections, which cost it sockets, not CPU.
}

// Seen returns when the agent first received a configuration carrying marker, and when the Governor
// took its APPLIED report of it.
func (a *Agent) Seen(marker string) (received, reported time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seen[marker], a.reported[marker]
}

// Beating reports whether a heartbeat of the agent has been answered.
func (a *Agent) Beating() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.firstBeat.IsZero()
}

// markerOf returns the url of the fleet binding in rev: the mark of the change it carries.
func markerOfRevision(rev revision.Revision) string {
	for _, b := range rev.Bindings {
		if b.Name != FleetBinding {
			continue
		}
		for _, m := range b.Metadata {
			if m.Name == "url" {
				return m.Value
			}
		}
	}
	return ""
}

// source is the Governor as the reconcile loop sees it: the agent's planeapi client, its answers timed.
// Reports go through the client untouched (reportWatch times them), so that the loop's Source interface
// can change with the agent without the simulation following it.
type source struct {
	*planeapi.Client
	a *Agent
}

func (s source) RuntimeConfiguration(ctx context.Context, runtimeID string, after int, wait time.Duration) (revision.Revision, error) {
	f := s.a.fleet
	start := time.Now()
	rev, err := s.Client.RuntimeConfiguration(ctx, runtimeID, after, wait)
	op, calls := "poll", &f.Polls
	if wait == 0 {
		op, calls = "fetch", &f.Fetches
	}
	if err != nil {
		if ctx.Err() == nil {
			f.Errors.Add(f.Phase(), op, err)
		}
		return rev, err
	}
	now := time.Now()
	calls.Add(start, now.Sub(start))
	if m := markerOfRevision(rev); m != "" {
		s.a.mu.Lock()
		if _, ok := s.a.seen[m]; !ok {
			s.a.seen[m] = now
		}
		s.a.markerOf[rev.Number] = m
		s.a.mu.Unlock()
	}
	return rev, nil
}

// reportWatch times the agent's reportConfigurationStatus requests on their way to the gateway and
// notes when an APPLIED report of a marked revision was taken.
type reportWatch struct {
	next http.RoundTripper
	a    *Agent
}

// reportPrefix is how planeapi's report request begins (encoding/json writes "query" before "variables").
var reportPrefix = []byte(`{"query":"mutation reportConfigurationStatus`)

func (w reportWatch) RoundTrip(req *http.Request) (*http.Response, error) {
	var report struct {
		Variables struct {
			Revision int
			Status   string
		}
	}
	isReport := false
	if req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			raw, _ := io.ReadAll(body)
			if bytes.HasPrefix(raw, reportPrefix) && json.Unmarshal(raw, &report) == nil {
				isReport = true
			}
		}
	}
	if !isReport {
		return w.next.RoundTrip(req)
	}
	f := w.a.fleet
	start := time.Now()
	resp, err := w.next.RoundTrip(req)
	if err != nil {
		if req.Context().Err() == nil {
			f.Errors.Add(f.Phase(), "report", err)
		}
		return resp, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	if err == nil {
		err = gqlclient.Decode(resp.StatusCode, bytes.NewReader(raw), 0, nil)
	}
	if err != nil {
		if req.Context().Err() == nil {
			f.Errors.Add(f.Phase(), "report", err)
		}
		return resp, nil // the agent's client reads the same answer and decides for itself
	}
	now := time.Now()
	f.Reports.Add(start, now.Sub(start))
	w.a.mu.Lock()
	if m := w.a.markerOf[report.Variables.Revision]; m != "" && report.Variables.Status == string(revision.Applied) {
		if _, ok := w.a.reported[m]; !ok {
			w.a.reported[m] = now
		}
	}
	w.a.mu.Unlock()
	return resp, nil
}

// beater is the Director's heartbeat as the heartbeat loop sees it: the agent's planeapi client, timed.
type beater struct{ a *Agent }

func (b beater) Heartbeat(ctx context.Context, runtimeID string) error {
	f := b.a.fleet
	start := time.Now()
	if p := b.a.probe.Load(); p != nil {
		(*p)(start)
	}
	err := b.a.api.Heartbeat(ctx, runtimeID)
	if err != nil {
		if ctx.Err() == nil {
			f.Errors.Add(f.Phase(), "heartbeat", err)
		}
		return err
	}
	f.Beats.Add(start, time.Since(start))
	b.a.mu.Lock()
	if b.a.firstBeat.IsZero() {
		b.a.firstBeat = time.Now()
	}
	b.a.mu.Unlock()
	return nil
}

// applier checks a revision as the real appliers do before writing anything, and writes nothing: the
// components would go to the runtime's own sidecar, which is not the plane's cost.
type applier struct{}

func (applier) Apply(_ context.Context, rev revision.Revision) error { return rev.Validate() }

// connector is the Connector client as the credentials manager takes it (the agent's main has the same
// adapter). Credentials stay in memory: the real agent's files on its own disk cost the plane nothing.
type connector struct{ f *Fleet }

type memIssued struct{ *connectorclient.Credentials }

func (memIssued) Save(string) error { return nil }

func (c connector) Pair(ctx context.Context, token string) (credentials.Issued, error) {
	cred, err := c.f.connector.Pair(ctx, token)
	if err != nil {
		c.f.Errors.Add(c.f.Phase(), "pair", err)
		return nil, err
	}
	return memIssued{cred}, nil
}

func (c connector) Renew(ctx context.Context, cur credentials.Issued) (credentials.Issued, error) {
	m, ok := cur.(memIssued)
	if !ok {
		return nil, fmt.Errorf("renew: unexpected credentials type %T", cur)
	}
	next, err := c.f.connector.Renew(ctx, c.f.cfg.GatewaySecureURL+"/connector/graphql", m.Credentials)
	if err != nil {
		c.f.Errors.Add(c.f.Phase(), "renew", err)
		return nil, err
	}
	return memIssued{next}, nil
}

func (connector) Load(string) (credentials.Issued, error) { return nil, fs.ErrNotExist }

// connectorHTTP is the client the Connector client renews with: it trusts the gateway's CA, as the agent's
// main sets it up with GATEWAY_CA_FILE.
func connectorHTTP(f *Fleet) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: f.cfg.GatewayCA, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 64,
	}}
}
