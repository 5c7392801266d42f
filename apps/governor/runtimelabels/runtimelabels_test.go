package runtimelabels_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/governor/notify"
	"github.com/mgmtplane/mgmtplane/apps/governor/runtimelabels"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// fakeInvoker answers like the Director behind Dapr invocation, and keeps the request.
type fakeInvoker struct {
	status int
	body   string
	err    error

	appID, method string
	header        http.Header
	request       map[string]any
}

func (f *fakeInvoker) Do(_ context.Context, appID, httpMethod, method string, header http.Header, body io.Reader) (*http.Response, error) {
	f.appID, f.method, f.header = appID, httpMethod+" "+method, header
	_ = json.NewDecoder(body).Decode(&f.request)
	if f.err != nil {
		return nil, f.err
	}
	return &http.Response{StatusCode: f.status, Body: io.NopCloser(strings.NewReader(f.body))}, nil
}

func TestRuntimeLabels(t *testing.T) {
	caller := identity.Identity{Tenant: "t1", Subject: "rt-1", ConsumerType: identity.ConsumerRuntime, Scopes: []string{"runtime:read"}}
	tests := []struct {
		name   string
		inv    fakeInvoker
		labels map[string]any
		code   apperr.Code // "" for success; CodeInternal for a plain error
	}{
		{"labels", fakeInvoker{status: 200, body: `{"data":{"runtime":{"labels":{"env":"prod","scenarios":["DEFAULT"]}}}}`},
			map[string]any{"env": "prod", "scenarios": []any{"DEFAULT"}}, ""},
		{"no labels", fakeInvoker{status: 200, body: `{"data":{"runtime":{"labels":null}}}`}, map[string]any{}, ""},
		{"no such runtime", fakeInvoker{status: 200, body: `{"data":{"runtime":null}}`}, nil, apperr.CodeNotFound},
		{"forbidden", fakeInvoker{status: 200, body: `{"errors":[{"message":"runtime requires the scope runtime:read","extensions":{"code":"FORBIDDEN"}}],"data":{"runtime":null}}`},
			nil, apperr.CodeForbidden},
		{"director error", fakeInvoker{status: 200, body: `{"errors":[{"message":"internal error, id x","extensions":{"code":"INTERNAL"}}]}`}, nil, apperr.CodeInternal},
		{"director down", fakeInvoker{status: 500, body: `{"errorCode":"ERR_DIRECT_INVOKE"}`}, nil, apperr.CodeUnavailable},
		{"sidecar unreachable", fakeInvoker{err: errors.New("connection refused")}, nil, apperr.CodeUnavailable},
		{"garbage", fakeInvoker{status: 200, body: `<html>`}, nil, apperr.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := tt.inv
			c := runtimelabels.New(&inv, "director")
			ctx := assertion.NewContext(identity.NewContext(context.Background(), caller), "the-callers-assertion")
			labels, err := c.RuntimeLabels(ctx, "rt-1")
			if inv.appID != "director" || inv.method != "POST graphql" {
				t.Errorf("called %s %s", inv.appID, inv.method)
			}
			if got := inv.header.Get(assertion.Header); got != "the-callers-assertion" {
				t.Errorf("assertion passed on: %q", got)
			}
			if vars, _ := inv.request["variables"].(map[string]any); vars["id"] != "rt-1" || !strings.Contains(inv.request["query"].(string), "labels") {
				t.Errorf("request %v", inv.request)
			}
			if tt.code != "" {
				if err == nil || apperr.CodeOf(err) != tt.code {
					t.Fatalf("error %v, want %s", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(labels)
			want, _ := json.Marshal(tt.labels)
			if string(got) != string(want) {
				t.Errorf("labels %s, want %s", got, want)
			}
		})
	}
}

func TestTopics(t *testing.T) {
	keysOf := map[string]func([]byte) ([]string, error){}
	for _, tp := range runtimelabels.Topics() {
		keysOf[tp.Name] = tp.Keys
	}
	tests := []struct {
		topic, data string
		want        []string
		err         bool
	}{
		{"label.set", `{"objectType":"runtime","objectID":"rt-1","key":"env","value":"prod"}`, []string{notify.RuntimeKey("rt-1")}, false},
		{"label.deleted", `{"objectType":"runtime","objectID":"rt-1","key":"env"}`, []string{notify.RuntimeKey("rt-1")}, false},
		{"label.set", `{"objectType":"application","objectID":"app-1","key":"env"}`, nil, false},
		{"runtime.updated", `{"id":"rt-1","name":"r","labels":{"env":"prod"}}`, []string{notify.RuntimeKey("rt-1")}, false},
		{"runtime.deleted", `{"name":"r"}`, nil, true},
		{"label.set", `[]`, nil, true},
	}
	for _, tt := range tests {
		keys, err := keysOf[tt.topic]([]byte(tt.data))
		if (err != nil) != tt.err || strings.Join(keys, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s %s: %v, %v; want %v (error %v)", tt.topic, tt.data, keys, err, tt.want, tt.err)
		}
	}
}

func TestRuntimeLabelsNeedACaller(t *testing.T) {
	inv := fakeInvoker{status: 200, body: `{"data":{"runtime":{"labels":{}}}}`}
	_, err := runtimelabels.New(&inv, "director").RuntimeLabels(context.Background(), "rt-1")
	if apperr.CodeOf(err) != apperr.CodeUnauthenticated || inv.appID != "" {
		t.Fatalf("without a caller: %v, called %q", err, inv.appID)
	}
}

func TestRuntimes(t *testing.T) {
	caller := identity.Identity{Tenant: "t1", Subject: "alice", ConsumerType: identity.ConsumerUser, Scopes: []string{"runtime:read"}}
	inv := fakeInvoker{status: 200, body: `{"data":{"runtimes":{"data":[{"id":"rt-1","labels":{"env":"prod"}},{"id":"rt-2","labels":null}],
		"pageInfo":{"endCursor":"c1","hasNextPage":false}}}}`}
	ctx := assertion.NewContext(identity.NewContext(context.Background(), caller), "the-callers-assertion")
	rts, err := runtimelabels.New(&inv, "director").Runtimes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rts) != 2 || rts[0].ID != "rt-1" || rts[0].Labels["env"] != "prod" || rts[1].ID != "rt-2" {
		t.Fatalf("runtimes %+v", rts)
	}
	if inv.header.Get(assertion.Header) != "the-callers-assertion" {
		t.Error("listed runtimes not as the caller")
	}
}

func TestCondition(t *testing.T) {
	tests := []struct {
		data      string
		ok, err   bool
		condition string
		reason    string
	}{
		{`{"id":"rt-1","status":{"condition":"FAILED","timestamp":"2026-01-01T00:00:00Z","reason":"no heartbeat since x"}}`, true, false, "FAILED", "no heartbeat since x"},
		{`{"id":"rt-1","status":{"condition":"CONNECTED","timestamp":"2026-01-01T00:00:00Z"}}`, true, false, "CONNECTED", ""},
		{`{"id":"rt-1","name":"r"}`, false, false, "", ""},
		{`[]`, false, true, "", ""},
	}
	for _, tt := range tests {
		h, ok, err := runtimelabels.Condition([]byte(tt.data))
		if ok != tt.ok || (err != nil) != tt.err || h.Condition != tt.condition || h.Reason != tt.reason {
			t.Errorf("%s: %+v %v %v", tt.data, h, ok, err)
		}
	}
}
