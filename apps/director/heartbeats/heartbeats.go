// Package heartbeats is the Director's edge for the runtimes' heartbeats that the gateway hands over in
// batches (package heartbeatbatch says why). Each heartbeat in a batch is handled as if it had come alone
// through the GraphQL heartbeat mutation: its own assertion verified, its own caller in the context, the
// same domain call, and the same audit rule (recorded only when it changes the runtime's condition or
// fails, see gqlserver.Audit).
package heartbeats

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/audit"
	"github.com/mgmtplane/mgmtplane/apps/internal/heartbeatbatch"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/web"
)

// Beater records runtimes' heartbeats; *runtimes.Service implements it.
type Beater interface {
	// Heartbeat records one heartbeat for the caller in ctx, checking everything.
	Heartbeat(ctx context.Context, id string) (*model.Runtime, error)
	// HeartbeatMany records the heartbeats of the CONNECTED runtimes among ids of tenant at once, each
	// already known to come from its runtime, and reports which it recorded.
	HeartbeatMany(ctx context.Context, tenant string, ids []string) (map[string]bool, error)
}

// Verifier checks an assertion; *assertion.Verifier implements it.
type Verifier interface {
	Verify(ctx context.Context, raw string) (assertion.Claims, error)
}

// Handler serves heartbeatbatch.Method. Mount it behind assertion.Middleware: the batch itself must come
// from the gateway (Sender), besides every item carrying a runtime's assertion.
type Handler struct {
	Log      *slog.Logger
	Verifier Verifier
	Runtimes Beater
	// Audit receives the records of heartbeats that changed or failed something; nil logs them only.
	Audit audit.Publisher
	// App names this app in audit records.
	App string
	// Sender is the subject of the service identity a batch must come from (the gateway).
	Sender string
	// Access are the rules of the GraphQL API (access.Rules): a heartbeat here needs what the heartbeat
	// mutation needs.
	Access interface {
		Allows(id identity.Identity, field string) error
	}
	// Parallel bounds the heartbeats of a batch handled one by one at once (default 8).
	Parallel int
}

// maxBody bounds a batch's body: MaxItems assertions of about a kilobyte each, with room to spare.
const maxBody = heartbeatbatch.MaxItems * 4 << 10

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	caller, _ := identity.FromContext(r.Context())
	if caller.ConsumerType != identity.ConsumerService || caller.Subject != h.Sender {
		h.Log.WarnContext(r.Context(), "heartbeat batch refused: not from the gateway", "subject", caller.Subject, "consumer", caller.ConsumerType)
		web.WriteError(w, http.StatusForbidden, string(apperr.CodeForbidden), "only the gateway hands over heartbeats")
		return
	}
	var req heartbeatbatch.Request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil {
		web.WriteError(w, http.StatusBadRequest, string(apperr.CodeInvalidInput), "the body is not a heartbeat batch")
		return
	}
	if len(req.Heartbeats) > heartbeatbatch.MaxItems {
		web.WriteError(w, http.StatusBadRequest, string(apperr.CodeInvalidInput), fmt.Sprintf("a batch holds at most %d heartbeats", heartbeatbatch.MaxItems))
		return
	}
	// The batch's work happens even if the gateway gives up on it: each heartbeat is small, and a
	// half-handled batch would only be sent again.
	ctx := context.WithoutCancel(r.Context())
	results := h.handle(ctx, req.Heartbeats)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(heartbeatbatch.Response{Results: results})
}

// handle decides every heartbeat of a batch. The steady ones — a runtime beating for itself, already
// CONNECTED — are written together per tenant (Beater.HeartbeatMany); every other one goes through
// Beater.Heartbeat on its own, with its audit record, exactly as the GraphQL mutation would.
func (h *Handler) handle(ctx context.Context, items []heartbeatbatch.Item) []heartbeatbatch.Result {
	results := make([]heartbeatbatch.Result, len(items))
	callers := make([]identity.Identity, len(items))
	var alone []int
	byTenant := map[string][]int{}
	for i, it := range items {
		claims, err := h.Verifier.Verify(ctx, it.Assertion)
		if err != nil {
			if !assertion.Refused(err) {
				h.Log.ErrorContext(ctx, "heartbeat's assertion not checked", "runtime", it.RuntimeID, "err", err)
				results[i] = result(apperr.CodeUnavailable, "cannot verify the caller now; try again")
				continue
			}
			h.Log.WarnContext(ctx, "heartbeat's assertion refused", "runtime", it.RuntimeID, "err", err)
			results[i] = result(apperr.CodeUnauthenticated, err.Error())
			continue
		}
		c := claims.Identity()
		callers[i] = c
		if c.ConsumerType == identity.ConsumerRuntime && c.Subject == it.RuntimeID && c.Tenant != "" &&
			h.Access.Allows(c, "heartbeat") == nil {
			byTenant[c.Tenant] = append(byTenant[c.Tenant], i)
		} else {
			alone = append(alone, i)
		}
	}
	for tenant, idx := range byTenant {
		ids := make([]string, len(idx))
		for k, i := range idx {
			ids[k] = items[i].RuntimeID
		}
		recorded, err := h.Runtimes.HeartbeatMany(ctx, tenant, ids)
		if err != nil {
			// One at a time, then: each gets its own answer, and its own error if the store is down.
			h.Log.WarnContext(ctx, "heartbeats not recorded together", "tenant", tenant, "count", len(ids), "err", err)
		}
		for _, i := range idx {
			if !recorded[items[i].RuntimeID] {
				alone = append(alone, i)
			}
		}
		h.Log.DebugContext(ctx, "heartbeats recorded", "tenant", tenant, "count", len(recorded))
	}

	parallel := h.Parallel
	if parallel <= 0 {
		parallel = 8
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, i := range alone {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i] = h.beat(ctx, items[i], callers[i])
		}()
	}
	wg.Wait()
	return results
}

// beat handles one heartbeat as caller, the runtime its assertion names.
func (h *Handler) beat(ctx context.Context, it heartbeatbatch.Item, caller identity.Identity) heartbeatbatch.Result {
	ctx = assertion.NewContext(identity.NewContext(ctx, caller), it.Assertion)
	ctx, entry := audit.Begin(ctx, h.App, "heartbeat", []string{"heartbeat"}, h.Audit)
	err := h.Access.Allows(caller, "heartbeat")
	if err == nil {
		_, err = h.Runtimes.Heartbeat(ctx, it.RuntimeID)
	}
	if err != nil {
		msg, public := apperr.Public(err)
		if !public {
			h.Log.ErrorContext(ctx, "heartbeat not recorded", "runtime", it.RuntimeID, "err", err)
			msg = "the heartbeat could not be recorded; try again"
		}
		entry.FinishLiveness(ctx, h.Log, h.Audit, []string{msg})
		return result(apperr.CodeOf(err), msg)
	}
	entry.FinishLiveness(ctx, h.Log, h.Audit, nil)
	return heartbeatbatch.Result{}
}

func result(code apperr.Code, msg string) heartbeatbatch.Result {
	return heartbeatbatch.Result{Code: string(code), Message: msg}
}
