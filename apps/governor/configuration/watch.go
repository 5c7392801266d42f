package configuration

import (
	"context"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/governor/notify"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// MaxWait bounds how long Watch holds a request.
const MaxWait = 30 * time.Second

// Watch is the agents' long-poll: it answers the runtime's effective configuration as soon as its
// revision is above after, or when wait is over, whichever comes first (wait 0 answers at once).
//
// It sleeps until something that may change the answer happens: a configuration write in the tenant, in
// this process or announced by another replica on pub/sub, or a change of the runtime in the Director.
// Each wake-up recomputes the effective configuration, and an unchanged one goes back to sleep. The wait
// ends early, with the current answer, when the app shuts down.
func (s *Service) Watch(ctx context.Context, runtimeID string, after int, wait time.Duration) (*Effective, error) {
	if after < 0 {
		return nil, apperr.Invalid("afterRevision: must not be negative")
	}
	if wait < 0 || wait > MaxWait {
		return nil, apperr.Invalid("waitSeconds: must be between 0 and %d", int(MaxWait/time.Second))
	}
	sc, err := registry.TenantScope(ctx, kindConfiguration)
	if err != nil {
		return nil, err
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		// Taken before computing, so that a change landing during the computation still wakes us.
		tenantChanged := s.hub.Changed(notify.TenantKey(sc.Tenant))
		runtimeChanged := s.hub.Changed(notify.RuntimeKey(runtimeID))
		eff, err := s.Effective(ctx, runtimeID)
		if err != nil || eff.Revision > after || wait == 0 {
			return eff, err
		}
		select {
		case <-tenantChanged:
		case <-runtimeChanged:
		case <-timer.C:
			// Labels may have changed without an event reaching us: answer what holds now.
			return s.Effective(ctx, runtimeID)
		case <-s.hub.Closed():
			return eff, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
