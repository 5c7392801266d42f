package provisioned_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/provisioned"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/events"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

type fakeRuntimes struct {
	calls  []string
	err    error
	labels map[string]any // of rt-1; the fake knows no other runtime
}

func (f *fakeRuntimes) Get(_ context.Context, id string) (*model.Runtime, error) {
	if id != "rt-1" {
		return nil, apperr.NotFound("runtime", id)
	}
	return &model.Runtime{ID: id, Labels: f.labels}, nil
}

func (f *fakeRuntimes) SetLabel(ctx context.Context, id, key string, value any) (*model.Label, error) {
	tenant, _ := identity.TenantFrom(ctx)
	f.calls = append(f.calls, fmt.Sprintf("%s/%s: %s=%v", tenant, id, key, value))
	return &model.Label{Key: key, Value: value}, f.err
}

func (f *fakeRuntimes) ProvisioningFailed(ctx context.Context, id, reason string) error {
	tenant, _ := identity.TenantFrom(ctx)
	f.calls = append(f.calls, tenant+"/"+id+": "+reason)
	return f.err
}

func deliver(t *testing.T, rts *fakeRuntimes, body string) string {
	t.Helper()
	mux := http.NewServeMux()
	events.Subscribe(mux, slog.New(slog.DiscardHandler), provisioned.Subscription("pubsub", rts))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/events/"+provisioned.Topic, strings.NewReader(body)))
	return rec.Body.String()
}

func TestFailedProvisioningMarksTheRuntime(t *testing.T) {
	rts := &fakeRuntimes{}
	got := deliver(t, rts, `{"data":{"runtimeID":"rt-1","tenant":"t1","type":"Provision","state":"Failed",
		"lastError":{"errMessage":"stage wait-connected did not finish within 10m0s","reason":"err_timeout"}}}`)
	if !strings.Contains(got, "SUCCESS") || len(rts.calls) != 1 ||
		rts.calls[0] != "t1/rt-1: provisioning failed: stage wait-connected did not finish within 10m0s" {
		t.Fatalf("answer %s, calls %v", got, rts.calls)
	}
}

func TestOtherEventsChangeNothing(t *testing.T) {
	for name, body := range map[string]string{
		"succeeded":          `{"data":{"runtimeID":"rt-1","tenant":"t1","type":"Provision","state":"Succeeded"}}`,
		"in progress":        `{"data":{"runtimeID":"rt-1","tenant":"t1","type":"Provision","state":"InProgress"}}`,
		"failed deprovision": `{"data":{"runtimeID":"rt-1","tenant":"t1","type":"Deprovision","state":"Failed"}}`,
	} {
		rts := &fakeRuntimes{}
		if got := deliver(t, rts, body); !strings.Contains(got, "SUCCESS") || len(rts.calls) != 0 {
			t.Errorf("%s: answer %s, calls %v", name, got, rts.calls)
		}
	}
	for name, body := range map[string]string{
		"garbage":    `not json`,
		"no tenant":  `{"data":{"runtimeID":"rt-1","type":"Provision","state":"Failed"}}`,
		"bad tenant": `{"data":{"runtimeID":"rt-1","tenant":"../x","type":"Provision","state":"Failed"}}`,
	} {
		rts := &fakeRuntimes{}
		if got := deliver(t, rts, body); !strings.Contains(got, "DROP") || len(rts.calls) != 0 {
			t.Errorf("%s: answer %s, calls %v", name, got, rts.calls)
		}
	}
	// A failure to record it is retried by the broker.
	rts := &fakeRuntimes{err: errors.New("store down")}
	if got := deliver(t, rts, `{"data":{"runtimeID":"rt-1","tenant":"t1","type":"Provision","state":"Failed"}}`); !strings.Contains(got, "RETRY") {
		t.Fatalf("answer %s", got)
	}
}

// The cluster the Provisioner names in its events becomes the runtime's label once, in the runtime's
// tenant; labels not the Provisioner's, and runtimes that are gone, are left alone.
func TestProvisionerLabelsAreSet(t *testing.T) {
	const body = `{"data":{"runtimeID":"%s","tenant":"t1","type":"Provision","state":"InProgress",
		"runtimeLabels":{"provisioner_cluster":"edge.garden-p.shoot.example.com","scenarios":"evil"}}}`
	rts := &fakeRuntimes{}
	if got := deliver(t, rts, fmt.Sprintf(body, "rt-1")); !strings.Contains(got, "SUCCESS") || len(rts.calls) != 1 ||
		rts.calls[0] != "t1/rt-1: provisioner_cluster=edge.garden-p.shoot.example.com" {
		t.Fatalf("answer %s, calls %v", got, rts.calls)
	}
	rts = &fakeRuntimes{labels: map[string]any{"provisioner_cluster": "edge.garden-p.shoot.example.com"}}
	if got := deliver(t, rts, fmt.Sprintf(body, "rt-1")); !strings.Contains(got, "SUCCESS") || len(rts.calls) != 0 {
		t.Fatalf("label already there: answer %s, calls %v", got, rts.calls)
	}
	rts = &fakeRuntimes{}
	if got := deliver(t, rts, fmt.Sprintf(body, "rt-gone")); !strings.Contains(got, "SUCCESS") || len(rts.calls) != 0 {
		t.Fatalf("runtime gone: answer %s, calls %v", got, rts.calls)
	}
	rts = &fakeRuntimes{err: errors.New("store down")}
	if got := deliver(t, rts, fmt.Sprintf(body, "rt-1")); !strings.Contains(got, "RETRY") {
		t.Fatalf("store down: answer %s", got)
	}
}
