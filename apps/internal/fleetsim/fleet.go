// Package fleetsim simulates a fleet of runtime agents in one process, to measure what a fleet costs the
// management plane. Each simulated agent is a real runtime registered in the Director, paired through the
// Connector with a one-time token (a CSR and a client certificate signed by the Connector's CA), and runs
// the Runtime Agent's own packages — credentials, planeapi, heartbeat, reconcile — over the gateway's TLS
// listener with that certificate, at the agent's own intervals. Only what concerns the runtime alone is
// left out: component files and the runtime's sidecar (see Agent).
package fleetsim

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/connectorclient"
)

// The Runtime Agent's defaults (apps/runtime-agent/main.go, HEARTBEAT_INTERVAL, LONG_POLL_WAIT,
// FULL_FETCH_INTERVAL); a test holds them to that file.
const (
	AgentHeartbeatInterval = 10 * time.Second
	AgentPollWait          = 25 * time.Second
	AgentFullFetchEvery    = 60 * time.Second
)

// Config describes the plane and how the fleet behaves.
type Config struct {
	// GatewayURL is the gateway's plain listener (one-time token flow); GatewaySecureURL its TLS listener,
	// whose server certificate GatewayCA verifies.
	GatewayURL, GatewaySecureURL string
	GatewayCA                    *x509.CertPool
	// Admin registers the runtimes and asks for their tokens.
	Admin *Admin
	// LabelKey=LabelValue is set on every runtime of the fleet; the fleet's configuration selects it.
	LabelKey, LabelValue string
	// The agents' intervals; zero means the agent's default.
	HeartbeatInterval, PollWait, FullFetchEvery time.Duration
	// Log receives the agents' own logs; nil discards them (failures are counted in Fleet.Errors).
	Log *slog.Logger
}

// Fleet is a set of simulated agents and what they measured.
type Fleet struct {
	cfg       Config
	log       *slog.Logger
	connector *connectorclient.Client

	Agents []*Agent
	// Errors counts every failed call of the agents and of enrolling them.
	Errors Errors
	// Successful calls by operation: heartbeats, long polls, fallback fetches, APPLIED reports.
	Beats, Polls, Fetches, Reports Calls

	phase  atomic.Pointer[string]
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns an empty fleet.
func New(cfg Config) *Fleet {
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = AgentHeartbeatInterval
	}
	if cfg.PollWait <= 0 {
		cfg.PollWait = AgentPollWait
	}
	if cfg.FullFetchEvery <= 0 {
		cfg.FullFetchEvery = AgentFullFetchEvery
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	f := &Fleet{cfg: cfg, log: log}
	f.connector = connectorclient.New(cfg.GatewayURL+"/connector/graphql", connectorHTTP(f))
	f.SetPhase("enroll")
	return f
}

// SetPhase names what the fleet is doing; errors are counted per phase.
func (f *Fleet) SetPhase(p string) { f.phase.Store(&p) }

// Phase returns the current phase.
func (f *Fleet) Phase() string { return *f.phase.Load() }

// Enrolment is how enrolling the fleet went.
type Enrolment struct {
	Enrolled, Failed int
	Wall             time.Duration
	// Per runtime: registerRuntime, requestOneTimeTokenForRuntime, and the Connector's pairing.
	Register, Token, Pair Durations
}

// Rate is runtimes enrolled per second.
func (e Enrolment) Rate() float64 {
	if e.Wall <= 0 {
		return 0
	}
	return float64(e.Enrolled) / e.Wall.Seconds()
}

// Enroll registers n runtimes named prefix-<i>, gets each a one-time token and pairs its agent, parallel
// at a time. A runtime that fails any step is left out of the fleet and counted.
func (f *Fleet) Enroll(ctx context.Context, n, parallel int, prefix string) Enrolment {
	var (
		mu  sync.Mutex
		out Enrolment
		wg  sync.WaitGroup
	)
	sem := make(chan struct{}, max(parallel, 1))
	start := time.Now()
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			a, reg, tok, pair, err := f.enrollOne(ctx, fmt.Sprintf("%s-%04d", prefix, i))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				out.Failed++
				return
			}
			out.Enrolled++
			out.Register, out.Token, out.Pair = append(out.Register, reg), append(out.Token, tok), append(out.Pair, pair)
			f.Agents = append(f.Agents, a)
		}()
	}
	wg.Wait()
	out.Wall = time.Since(start)
	return out
}

func (f *Fleet) enrollOne(ctx context.Context, name string) (a *Agent, reg, tok, pair time.Duration, err error) {
	t := time.Now()
	id, err := f.cfg.Admin.RegisterRuntime(ctx, name, map[string]any{f.cfg.LabelKey: f.cfg.LabelValue})
	if err != nil {
		f.Errors.Add(f.Phase(), "register", err)
		return nil, 0, 0, 0, err
	}
	reg = time.Since(t)
	t = time.Now()
	token, err := f.cfg.Admin.OneTimeToken(ctx, id)
	if err != nil {
		f.Errors.Add(f.Phase(), "token", err)
		return nil, 0, 0, 0, err
	}
	tok = time.Since(t)
	t = time.Now()
	a = newAgent(f, id)
	// Bootstrap retries a failed pairing for ever, as the agent does; a minute is plenty here.
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := a.pair(pctx, token); err != nil {
		return nil, 0, 0, 0, err
	}
	return a, reg, tok, time.Since(t), nil
}

// Start runs every agent, their starts spread evenly over spread (a fleet's agents do not start in the
// same second), until Stop.
func (f *Fleet) Start(spread time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	for i, a := range f.Agents {
		delay := time.Duration(0)
		if len(f.Agents) > 1 {
			delay = spread * time.Duration(i) / time.Duration(len(f.Agents))
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			a.run(ctx)
		}()
	}
}

// Stop ends every agent and waits for them.
func (f *Fleet) Stop() {
	if f.cancel != nil {
		f.cancel()
	}
	f.wg.Wait()
}

// WaitReady waits until every agent has had a heartbeat answered and received a configuration carrying
// marker, or until timeout; it returns how many are ready.
func (f *Fleet) WaitReady(ctx context.Context, marker string, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		ready := 0
		for _, a := range f.Agents {
			if got, _ := a.Seen(marker); a.Beating() && !got.IsZero() {
				ready++
			}
		}
		if ready == len(f.Agents) || time.Now().After(deadline) || ctx.Err() != nil {
			return ready
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Fanout is how one configuration change reached the fleet.
type Fanout struct {
	// Write is how long updateConfiguration took to answer.
	Write time.Duration
	// Received is, per agent that got it, the time from the change being sent to the agent receiving a
	// configuration carrying it; Reported, to the Governor answering the agent's APPLIED report of it.
	Received, Reported Durations
	// Missed counts the agents that had not received it when the wait ended.
	Missed int
}

// Change sends one change of the fleet's configuration (its binding's url set to marker) and waits until
// every agent has reported it APPLIED, or until timeout.
func (f *Fleet) Change(ctx context.Context, configID, marker string, timeout time.Duration) (Fanout, error) {
	var out Fanout
	start := time.Now()
	if err := f.cfg.Admin.UpdateConfiguration(ctx, configID, f.cfg.LabelKey, f.cfg.LabelValue, marker); err != nil {
		// It may still land; the agents that get it meanwhile are not counted, since its start is unknown.
		return Fanout{Missed: len(f.Agents)}, err
	}
	out.Write = time.Since(start)
	deadline := start.Add(timeout)
	for {
		done := 0
		for _, a := range f.Agents {
			if _, rep := a.Seen(marker); !rep.IsZero() {
				done++
			}
		}
		if done == len(f.Agents) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, a := range f.Agents {
		rec, rep := a.Seen(marker)
		if rec.IsZero() {
			out.Missed++
			continue
		}
		out.Received = append(out.Received, rec.Sub(start))
		if !rep.IsZero() {
			out.Reported = append(out.Reported, rep.Sub(start))
		}
	}
	return out, nil
}

// HeartbeatProbe is how long heartbeats took to show in the Director.
type HeartbeatProbe struct {
	// Stamped is from the agent sending a heartbeat to the time the Director stamped on it (its handler
	// running); Visible, to an administrator's runtime(id) query first showing it.
	Stamped, Visible Durations
	// Missed counts heartbeats that did not show within the probe's patience.
	Missed int
	// NotConnected counts probed runtimes whose condition was not CONNECTED when their heartbeat showed.
	NotConnected int
}

// ProbeHeartbeats watches the heartbeats that k agents send during d: from each send it asks the
// Director every poll for the runtime until its lastHeartbeat is the new one. The probe's own queries
// load the plane, so it is meant to run outside the windows where CPU is measured.
func (f *Fleet) ProbeHeartbeats(ctx context.Context, k int, d, poll time.Duration) HeartbeatProbe {
	var (
		mu     sync.Mutex
		out    HeartbeatProbe
		wg     sync.WaitGroup
		closed bool // no probes start once the wait for them has begun
	)
	probe := func(a *Agent) func(time.Time) {
		return func(sent time.Time) {
			mu.Lock()
			defer mu.Unlock()
			if closed {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for deadline := sent.Add(2 * f.cfg.HeartbeatInterval); time.Now().Before(deadline); time.Sleep(poll) {
					st, err := f.cfg.Admin.Runtime(ctx, a.ID)
					if err != nil {
						f.Errors.Add(f.Phase(), "probe", err)
						continue
					}
					if st.LastHeartbeat != nil && !st.LastHeartbeat.Before(sent) {
						seen := time.Now()
						mu.Lock()
						out.Stamped = append(out.Stamped, st.LastHeartbeat.Sub(sent))
						out.Visible = append(out.Visible, seen.Sub(sent))
						if st.Condition != "CONNECTED" {
							out.NotConnected++
						}
						mu.Unlock()
						return
					}
				}
				mu.Lock()
				out.Missed++
				mu.Unlock()
			}()
		}
	}
	probed := f.Agents[:min(k, len(f.Agents))]
	for _, a := range probed {
		p := probe(a)
		a.probe.Store(&p)
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	for _, a := range probed {
		a.probe.Store(nil)
	}
	mu.Lock()
	closed = true
	mu.Unlock()
	wg.Wait()
	return out
}

// Unenroll unregisters every runtime of the fleet, parallel at a time, so that the Director's health
// rounds do not turn them FAILED one by one while the next measurement runs. It returns the first error.
func (f *Fleet) Unenroll(ctx context.Context, parallel int) error {
	sem := make(chan struct{}, max(parallel, 1))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, a := range f.Agents {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f.cfg.Admin.UnregisterRuntime(ctx, a.ID); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d runtimes not unregistered: %w", len(errs), len(f.Agents), errs[0])
	}
	return nil
}

// DefaultHTTP is an admin client that keeps enough connections for parallel enrolment.
func DefaultHTTP() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
}
