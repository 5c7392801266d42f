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
	var last *Effective
	for {
		// Taken before computing, so that a change landing during the computation still wakes us.
		tenantChanged := s.hub.Changed(notify.TenantKey(sc.Tenant))
		runtimeChanged := s.hub.Changed(notify.RuntimeKey(runtimeID))
		next, err := s.Effective(ctx, runtimeID)
		switch {
		case err != nil && last != nil && apperr.CodeOf(err) == apperr.CodeUnauthenticated:
			// The caller's assertion, good when the poll came in, has run out while it waited (the gateway
			// reuses one for a few seconds, and it lives 30 s): answer what was computed with it. The agent
			// asks again at once, with a fresh one, and learns of the change then.
			return last, nil
		case err != nil || next.Revision > after || wait == 0:
			return next, err
		}
		last = next
		select {
		case <-tenantChanged:
		case <-runtimeChanged:
		case <-timer.C:
			// Answer what was computed, not a fresh computation: that would ask the Director for the
			// runtime's labels once more with an assertion near its end. A label change that sent no event
			// shows on the agent's next poll, which comes at once.
			return last, nil
		case <-s.hub.Closed():
			return last, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
