// Package healthprobe runs the Director's scheduled health work, driven by a Dapr cron input binding: it
// turns runtimes whose agent stopped sending heartbeats FAILED, and probes every application that has a
// healthCheckURL, recording the result as a health check and in the application's status.
package healthprobe

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// Tenants lists the tenants to look after.
type Tenants interface {
	List(ctx context.Context) ([]*model.Tenant, error)
}

// Applications is what the prober needs of the application service.
type Applications interface {
	EachWithHealthCheck(ctx context.Context, fn func(*model.Application) error) error
	SetStatus(ctx context.Context, id string, cond model.ApplicationStatusCondition) error
}

// Runtimes is what the prober needs of the runtime service.
type Runtimes interface {
	CheckHeartbeats(ctx context.Context, maxAge time.Duration) error
}

// Recorder keeps health check results.
type Recorder interface {
	Record(ctx context.Context, hcs ...model.HealthCheck) error
}

// Prober does one round of health work per call to Run.
type Prober struct {
	Log             *slog.Logger
	Tenants         Tenants
	Apps            Applications
	Runtimes        Runtimes
	Results         Recorder
	Client          *http.Client  // for probes; its timeout bounds each probe
	MaxHeartbeatAge time.Duration // a runtime silent for longer is FAILED
	Parallel        int           // probes at a time
	// Lease, when set, makes replicas take turns: a replica that does not hold it skips the round.
	Lease *Lease

	running atomic.Bool
}

// Run does one round. A round still running when the next tick comes is not doubled up.
func (p *Prober) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return nil
	}
	defer p.running.Store(false)
	if p.Lease != nil {
		held, err := p.Lease.Hold(ctx)
		if err != nil {
			return err
		}
		if !held {
			p.Log.DebugContext(ctx, "health round skipped: another replica holds the lease")
			return nil
		}
	}
	tenants, err := p.Tenants.List(ctx)
	if err != nil {
		return fmt.Errorf("list tenants: %w", err)
	}
	for _, t := range tenants {
		tctx := identity.NewContext(ctx, identity.Identity{Tenant: t.ID, Subject: "director-health", ConsumerType: identity.ConsumerUser})
		if err := p.Runtimes.CheckHeartbeats(tctx, p.MaxHeartbeatAge); err != nil {
			p.Log.WarnContext(ctx, "heartbeat check", "tenant", t.ID, "err", err)
		}
		if err := p.probeApplications(tctx); err != nil {
			p.Log.WarnContext(ctx, "application probes", "tenant", t.ID, "err", err)
		}
	}
	return nil
}

func (p *Prober) probeApplications(ctx context.Context) error {
	sem := make(chan struct{}, max(p.Parallel, 1))
	var wg sync.WaitGroup
	err := p.Apps.EachWithHealthCheck(ctx, func(app *model.Application) error {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p.probe(ctx, app)
		}()
		return nil
	})
	wg.Wait()
	return err
}

func (p *Prober) probe(ctx context.Context, app *model.Application) {
	hc := model.HealthCheck{Type: model.HealthCheckTypeManagementPlaneApplicationHealthcheck, Origin: &app.ID, Timestamp: time.Now().UTC()}
	cond := model.ApplicationStatusConditionConnected
	if err := p.get(ctx, *app.HealthCheckURL); err != nil {
		msg := err.Error()
		hc.Condition, hc.Message, cond = model.HealthCheckStatusConditionFailed, &msg, model.ApplicationStatusConditionFailed
	} else {
		hc.Condition = model.HealthCheckStatusConditionSucceeded
	}
	if err := p.Results.Record(ctx, hc); err != nil {
		p.Log.WarnContext(ctx, "record health check", "application", app.ID, "err", err)
	}
	if app.Status == nil || app.Status.Condition != cond {
		if err := p.Apps.SetStatus(ctx, app.ID, cond); err != nil {
			p.Log.WarnContext(ctx, "application status", "application", app.ID, "err", err)
		}
	}
}

// get probes url: any 2xx answer is healthy.
func (p *Prober) get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// Handler answers the cron binding's call: Dapr POSTs to the binding's name on every tick.
func (p *Prober) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := p.Run(r.Context()); err != nil {
			p.Log.ErrorContext(r.Context(), "health round", "err", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}
