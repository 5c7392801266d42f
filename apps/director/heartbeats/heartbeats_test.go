package heartbeats

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/director/access"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion/assertiontest"
	"github.com/mgmtplane/mgmtplane/apps/internal/heartbeatbatch"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// beater records who beat for which runtime and answers as the runtimes service would: the runtimes in
// connected are CONNECTED, and HeartbeatMany records those (or fails when failMany is set).
type beater struct {
	mu        sync.Mutex
	calls     map[string]identity.Identity
	connected map[string]bool
	failMany  bool
	many      []string // tenant/id of each heartbeat HeartbeatMany recorded
}

func (b *beater) HeartbeatMany(_ context.Context, tenant string, ids []string) (map[string]bool, error) {
	if b.failMany {
		return nil, errors.New("bulk write failed")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	rec := map[string]bool{}
	for _, id := range ids {
		if b.connected[id] {
			rec[id] = true
			b.many = append(b.many, tenant+"/"+id)
		}
	}
	return rec, nil
}

func (b *beater) Heartbeat(ctx context.Context, id string) (*model.Runtime, error) {
	caller, _ := identity.FromContext(ctx)
	b.mu.Lock()
	b.calls[id] = caller
	b.mu.Unlock()
	switch {
	case caller.Subject != id:
		return nil, apperr.New(apperr.CodeForbidden, "only runtime %s itself may send its heartbeat", id)
	case id == "gone":
		return nil, apperr.NotFound("runtime", id)
	case id == "broken":
		return nil, errors.New("state store at 10.0.0.7:6379: connection refused")
	}
	return &model.Runtime{ID: id}, nil
}

// published counts the audit records published directly.
type published struct {
	mu  sync.Mutex
	ops []string
}

func (p *published) Publish(_ context.Context, _, _ string, data []byte) error {
	var rec struct {
		Subject string `json:"subject"`
		Outcome string `json:"outcome"`
	}
	_ = json.Unmarshal(data, &rec)
	p.mu.Lock()
	p.ops = append(p.ops, rec.Subject+":"+rec.Outcome)
	p.mu.Unlock()
	return nil
}

func runtimeID(id string) identity.Identity {
	scopes, _ := identity.ConsumerScopes(identity.ConsumerRuntime)
	return identity.Identity{Tenant: "acme", Subject: id, ConsumerType: identity.ConsumerRuntime, Scopes: scopes}
}

func TestEveryHeartbeatOfABatchIsJudgedOnItsOwn(t *testing.T) {
	kit, other := assertiontest.New(t), assertiontest.New(t)
	b, pub := &beater{calls: map[string]identity.Identity{}, connected: map[string]bool{"rt-1": true, "rt-2": true}}, &published{}
	h := &Handler{Log: slog.New(slog.DiscardHandler), Verifier: kit.Verifier("director"), Runtimes: b, Audit: pub,
		App: "director", Sender: "gateway", Access: access.Rules}
	gateway := identity.Identity{Subject: "gateway", ConsumerType: identity.ConsumerService}
	user := identity.Identity{Tenant: "acme", Subject: "alice", ConsumerType: identity.ConsumerUser, Scopes: []string{identity.ScopeRuntimeRead}}

	items := []heartbeatbatch.Item{
		{RuntimeID: "rt-1", Assertion: kit.Sign(t, runtimeID("rt-1"), "director")},
		{RuntimeID: "rt-2", Assertion: kit.Sign(t, runtimeID("rt-1"), "director")},   // rt-1 beating for rt-2
		{RuntimeID: "rt-3", Assertion: other.Sign(t, runtimeID("rt-3"), "director")}, // not signed by the gateway's key
		{RuntimeID: "rt-4", Assertion: kit.Sign(t, runtimeID("rt-4"), "governor")},   // addressed to another app
		{RuntimeID: "rt-5", Assertion: kit.Sign(t, user, "director")},                // a user without runtime:write
		{RuntimeID: "gone", Assertion: kit.Sign(t, runtimeID("gone"), "director")},
		{RuntimeID: "broken", Assertion: kit.Sign(t, runtimeID("broken"), "director")},
	}
	want := []string{"", "FORBIDDEN", "UNAUTHENTICATED", "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "INTERNAL"}

	rec := post(t, kit.Middleware("director")(h), kit.Header(t, gateway, "director"), heartbeatbatch.Request{Heartbeats: items})
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var resp heartbeatbatch.Response
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || len(resp.Results) != len(items) {
		t.Fatalf("answer %s (%v)", rec.Body, err)
	}
	for i, r := range resp.Results {
		if r.Code != want[i] {
			t.Errorf("%s: code %q (%s), want %q", items[i].RuntimeID, r.Code, r.Message, want[i])
		}
	}
	if msg := resp.Results[6].Message; strings.Contains(msg, "10.0.0.7") {
		t.Errorf("an internal error leaked: %q", msg)
	}
	// Refused assertions and refused scopes never reach the runtimes service.
	for _, id := range []string{"rt-3", "rt-4", "rt-5"} {
		if _, ok := b.calls[id]; ok {
			t.Errorf("%s reached the service", id)
		}
	}
	if got := b.calls["rt-2"]; got.Subject != "rt-1" || got.Tenant != "acme" {
		t.Errorf("rt-2's heartbeat ran as %+v, want the caller its assertion names", got)
	}
	// rt-1 is CONNECTED: recorded with the others of its tenant, not one by one. rt-2 (someone else's
	// heartbeat) never goes into the bulk write, whatever its condition.
	if len(b.many) != 1 || b.many[0] != "acme/rt-1" {
		t.Errorf("recorded together: %v, want acme/rt-1", b.many)
	}
	if _, alone := b.calls["rt-1"]; alone {
		t.Error("rt-1's steady heartbeat went through the single path")
	}
	// A steady heartbeat is not audited; every failed one that reached a decision is (refused assertions are
	// logged by the verifier's refusal instead, as at the GraphQL edge).
	if len(pub.ops) != 4 || strings.Contains(strings.Join(pub.ops, " "), "success") {
		t.Errorf("audit records %v, want four errors and no success", pub.ops)
	}
}

func TestABatchThatCannotBeWrittenTogetherIsWrittenOneByOne(t *testing.T) {
	kit := assertiontest.New(t)
	b := &beater{calls: map[string]identity.Identity{}, connected: map[string]bool{"rt-1": true}, failMany: true}
	h := &Handler{Log: slog.New(slog.DiscardHandler), Verifier: kit.Verifier("director"), Runtimes: b,
		App: "director", Sender: "gateway", Access: access.Rules}
	gateway := identity.Identity{Subject: "gateway", ConsumerType: identity.ConsumerService}
	rec := post(t, kit.Middleware("director")(h), kit.Header(t, gateway, "director"), heartbeatbatch.Request{Heartbeats: []heartbeatbatch.Item{
		{RuntimeID: "rt-1", Assertion: kit.Sign(t, runtimeID("rt-1"), "director")},
		{RuntimeID: "gone", Assertion: kit.Sign(t, runtimeID("gone"), "director")},
	}})
	var resp heartbeatbatch.Response
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || len(resp.Results) != 2 {
		t.Fatalf("answer %d %s (%v)", rec.Code, rec.Body, err)
	}
	if !resp.Results[0].OK() || resp.Results[1].Code != "NOT_FOUND" {
		t.Errorf("results %+v", resp.Results)
	}
	if b.calls["rt-1"].Subject != "rt-1" || b.calls["gone"].Subject != "gone" {
		t.Errorf("one by one: %v", b.calls)
	}
}

func TestOnlyTheGatewayHandsOverBatches(t *testing.T) {
	kit := assertiontest.New(t)
	b := &beater{calls: map[string]identity.Identity{}}
	h := kit.Middleware("director")(&Handler{Log: slog.New(slog.DiscardHandler), Verifier: kit.Verifier("director"), Runtimes: b,
		App: "director", Sender: "gateway", Access: access.Rules})
	batch := heartbeatbatch.Request{Heartbeats: []heartbeatbatch.Item{{RuntimeID: "rt-1", Assertion: kit.Sign(t, runtimeID("rt-1"), "director")}}}

	// A runtime's own assertion (which the Governor, say, holds for the Director) does not make a batch.
	if rec := post(t, h, kit.Header(t, runtimeID("rt-1"), "director"), batch); rec.Code != http.StatusForbidden {
		t.Errorf("batch sent as a runtime: %d %s", rec.Code, rec.Body)
	}
	if rec := post(t, h, http.Header{}, batch); rec.Code != http.StatusUnauthorized {
		t.Errorf("batch without an assertion: %d %s", rec.Code, rec.Body)
	}
	gateway := kit.Header(t, identity.Identity{Subject: "gateway", ConsumerType: identity.ConsumerService}, "director")
	big := heartbeatbatch.Request{Heartbeats: make([]heartbeatbatch.Item, heartbeatbatch.MaxItems+1)}
	if rec := post(t, h, gateway, big); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "INVALID_INPUT") {
		t.Errorf("oversized batch: %d %s", rec.Code, rec.Body)
	}
	if len(b.calls) != 0 {
		t.Errorf("refused batches reached the service: %v", b.calls)
	}
}

func post(t *testing.T, h http.Handler, header http.Header, body heartbeatbatch.Request) *httptest.ResponseRecorder {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/heartbeats", strings.NewReader(string(raw)))
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
