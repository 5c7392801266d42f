package bundle_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/director/bundle"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

var hookConfig = bundle.Config{WebhookTimeout: 500 * time.Millisecond, WebhookBackoff: time.Millisecond}

// hookServer counts calls and answers each with respond(call number, request).
func hookServer(t *testing.T, respond func(call int, w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		respond(int(calls.Add(1)), w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func answer(code int, body string) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

func TestRequestInstanceAuth(t *testing.T) {
	const credentials = `{"auth":{"credential":{"basic":{"username":"hooked","password":"secret"}},"additionalHeaders":{"X-Key":["k"]}}}`
	tests := []struct {
		name        string
		defaultAuth bool
		noWebhook   bool
		respond     func(int, http.ResponseWriter, *http.Request)
		wantCond    model.BundleInstanceAuthStatusCondition
		wantReason  string
		wantUser    string // username of the credentials handed out
		wantMessage string
		wantCalls   int32
	}{
		{name: "default auth answers at once", defaultAuth: true, respond: answer(500, ""),
			wantCond: "SUCCEEDED", wantReason: "CredentialsProvided", wantUser: "default", wantCalls: 0},
		{name: "no webhook stays pending", noWebhook: true,
			wantCond: "PENDING", wantReason: "PendingNotification", wantCalls: 0},
		{name: "sync credentials", respond: answer(200, credentials),
			wantCond: "SUCCEEDED", wantReason: "CredentialsProvided", wantUser: "hooked", wantCalls: 1},
		{name: "sync refusal", respond: answer(200, `{"status":"FAILED","reason":"QuotaExceeded","message":"no seats left"}`),
			wantCond: "FAILED", wantReason: "QuotaExceeded", wantMessage: "no seats left", wantCalls: 1},
		{name: "sync refusal without details", respond: answer(201, `{"status":"FAILED"}`),
			wantCond: "FAILED", wantReason: "CredentialsNotProvided", wantCalls: 1},
		{name: "async accepted", respond: answer(202, ""),
			wantCond: "PENDING", wantReason: "NotificationSent", wantCalls: 1},
		{name: "retried after server errors", respond: func(call int, w http.ResponseWriter, r *http.Request) {
			if call < 3 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			answer(200, credentials)(call, w, r)
		}, wantCond: "SUCCEEDED", wantUser: "hooked", wantReason: "CredentialsProvided", wantCalls: 3},
		{name: "timeouts give up after three attempts", respond: func(_ int, w http.ResponseWriter, r *http.Request) {
			// The server notices the client hanging up only once the body is read.
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}, wantCond: "PENDING", wantReason: "PendingNotification", wantMessage: "no answer within", wantCalls: 3},
		{name: "client errors are not retried", respond: answer(400, "bad"),
			wantCond: "PENDING", wantReason: "PendingNotification", wantMessage: "400 Bad Request", wantCalls: 1},
		{name: "answer without credentials or failure", respond: answer(200, `{"hello":"world"}`),
			wantCond: "FAILED", wantReason: "InvalidWebhookAnswer", wantCalls: 1},
		{name: "answer with invalid credentials", respond: answer(200, `{"auth":{}}`),
			wantCond: "FAILED", wantReason: "InvalidWebhookAnswer", wantMessage: "credential: required", wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, hookConfig)
			var hooks []*model.Webhook
			var calls *atomic.Int32
			if !tt.noWebhook {
				var srv *httptest.Server
				srv, calls = hookServer(t, tt.respond)
				hooks = append(hooks, &model.Webhook{ID: "w1", Type: model.ApplicationWebhookTypeConfigurationChanged, URL: srv.URL})
			}
			in := model.BundleCreateInput{Name: "b"}
			if tt.defaultAuth {
				in.DefaultInstanceAuth = basicAuth("default", "pw")
			}
			b := e.addBundle(t, e.addApp(t, hooks...), in)

			got, err := e.svc.RequestInstanceAuth(e.ctx, b.ID, &model.BundleInstanceAuthRequestInput{Context: ptr(`{"runtime":"r1"}`)})
			mustOK(t, err)
			if got.Status.Condition != tt.wantCond || got.Status.Reason != tt.wantReason {
				t.Fatalf("status %+v, want %s/%s", got.Status, tt.wantCond, tt.wantReason)
			}
			if !strings.Contains(got.Status.Message, tt.wantMessage) {
				t.Fatalf("message %q does not mention %q", got.Status.Message, tt.wantMessage)
			}
			if user := username(got.Auth); user != tt.wantUser {
				t.Fatalf("credentials for %q, want %q", user, tt.wantUser)
			}
			if calls != nil && calls.Load() != tt.wantCalls {
				t.Fatalf("webhook called %d times, want %d", calls.Load(), tt.wantCalls)
			}
			stored, err := e.svc.InstanceAuth(e.ctx, got.ID)
			mustOK(t, err)
			if stored.Status.Condition != got.Status.Condition || *stored.Context != `{"runtime":"r1"}` {
				t.Fatalf("stored %+v, answered %+v", stored, got)
			}
		})
	}
}

func username(a *model.Auth) string {
	if a == nil {
		return ""
	}
	if b, ok := a.Credential.(*model.BasicCredentialData); ok {
		return b.Username
	}
	return "?"
}

// The webhook receives who asks for what, authenticated with the webhook's credentials.
func TestWebhookRequest(t *testing.T) {
	e := newEnv(t, hookConfig)
	var got map[string]any
	var user, pass string
	srv, _ := hookServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		user, pass, _ = r.BasicAuth()
		_ = json.NewDecoder(r.Body).Decode(&got)
		w.WriteHeader(http.StatusAccepted)
	})
	appID := e.addApp(t, &model.Webhook{ID: "w", Type: model.ApplicationWebhookTypeConfigurationChanged, URL: srv.URL,
		Auth: &model.Auth{Credential: &model.BasicCredentialData{Username: "director", Password: "pw"}}})
	b := e.addBundle(t, appID, model.BundleCreateInput{Name: "b", InstanceAuthRequestInputSchema: ptr(`{"type":"object"}`)})
	a, err := e.svc.RequestInstanceAuth(e.ctx, b.ID, &model.BundleInstanceAuthRequestInput{
		ID: ptr("my-auth-1"), Context: ptr(`{"ns":"prod"}`), InputParams: ptr(`{"plan":"gold"}`),
	})
	mustOK(t, err)
	if a.ID != "my-auth-1" || user != "director" || pass != "pw" {
		t.Fatalf("id %q, webhook auth %q/%q", a.ID, user, pass)
	}
	want := map[string]any{
		"bundleInstanceAuthID": "my-auth-1", "bundleID": b.ID, "applicationID": appID,
		"context": map[string]any{"ns": "prod"}, "inputParams": map[string]any{"plan": "gold"},
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("webhook got %s\nwant %s", gotJSON, wantJSON)
	}
	_, err = e.svc.RequestInstanceAuth(e.ctx, b.ID, &model.BundleInstanceAuthRequestInput{ID: ptr("my-auth-1"), InputParams: ptr(`{}`)})
	wantCode(t, err, apperr.CodeAlreadyExists)
}

func TestInputParamsChecked(t *testing.T) {
	e := newEnv(t, hookConfig)
	srv, calls := hookServer(t, answer(202, ""))
	appID := e.addApp(t, &model.Webhook{ID: "w", Type: model.ApplicationWebhookTypeConfigurationChanged, URL: srv.URL})
	schema := `{"type":"object","properties":{"plan":{"type":"string","enum":["gold","silver"]}},"required":["plan"]}`
	withSchema := e.addBundle(t, appID, model.BundleCreateInput{Name: "s", InstanceAuthRequestInputSchema: &schema})
	noSchema := e.addBundle(t, appID, model.BundleCreateInput{Name: "n"})

	tests := []struct {
		name     string
		bundleID string
		in       model.BundleInstanceAuthRequestInput
		want     string // empty: accepted
	}{
		{"valid", withSchema.ID, model.BundleInstanceAuthRequestInput{InputParams: ptr(`{"plan":"gold"}`)}, ""},
		{"violates the schema", withSchema.ID, model.BundleInstanceAuthRequestInput{InputParams: ptr(`{"plan":"bronze"}`)}, "do not satisfy"},
		{"missing where required", withSchema.ID, model.BundleInstanceAuthRequestInput{}, "inputParams: required"},
		{"any JSON where the bundle has no schema", noSchema.ID, model.BundleInstanceAuthRequestInput{InputParams: ptr(`{"x":1}`)}, ""},
		{"not JSON where the bundle has no schema", noSchema.ID, model.BundleInstanceAuthRequestInput{InputParams: ptr(`{x`)}, "not valid JSON"},
		{"params not JSON", withSchema.ID, model.BundleInstanceAuthRequestInput{InputParams: ptr(`{`)}, "inputParams: not valid JSON"},
		{"context not JSON", noSchema.ID, model.BundleInstanceAuthRequestInput{Context: ptr(`nope`)}, "context: not valid JSON"},
		{"bad id", noSchema.ID, model.BundleInstanceAuthRequestInput{ID: ptr("a/b")}, "in.id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, beforeCalls := e.state.Txns, calls.Load()
			_, err := e.svc.RequestInstanceAuth(e.ctx, tt.bundleID, &tt.in)
			if tt.want == "" {
				mustOK(t, err)
				return
			}
			wantCode(t, err, apperr.CodeInvalidInput)
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("message %q does not mention %q", err, tt.want)
			}
			if e.state.Txns != before || calls.Load() != beforeCalls {
				t.Fatal("a refused request was stored or sent to the application")
			}
		})
	}
	_, err := e.svc.RequestInstanceAuth(e.ctx, "no-such-bundle", &model.BundleInstanceAuthRequestInput{})
	wantCode(t, err, apperr.CodeNotFound)
}

func TestAsyncThenSet(t *testing.T) {
	e := newEnv(t, hookConfig)
	srv, _ := hookServer(t, answer(202, ""))
	b := e.addBundle(t, e.addApp(t, &model.Webhook{ID: "w", Type: model.ApplicationWebhookTypeConfigurationChanged, URL: srv.URL}), model.BundleCreateInput{Name: "b"})
	a, err := e.svc.RequestInstanceAuth(e.ctx, b.ID, &model.BundleInstanceAuthRequestInput{})
	mustOK(t, err)
	if a.Status.Condition != "PENDING" || a.Auth != nil {
		t.Fatalf("async request: %+v", a)
	}

	bad := []struct {
		name string
		in   model.BundleInstanceAuthSetInput
		want string
	}{
		{"nothing", model.BundleInstanceAuthSetInput{}, "give auth"},
		{"auth with FAILED", model.BundleInstanceAuthSetInput{Auth: basicAuth("u", "p"), Status: &model.BundleInstanceAuthStatusInput{Condition: "FAILED", Message: "m", Reason: "r"}}, "must be SUCCEEDED"},
		{"SUCCEEDED without auth", model.BundleInstanceAuthSetInput{Status: &model.BundleInstanceAuthStatusInput{Condition: "SUCCEEDED"}}, "SUCCEEDED needs auth"},
		{"FAILED without reason", model.BundleInstanceAuthSetInput{Status: &model.BundleInstanceAuthStatusInput{Condition: "FAILED", Message: "m"}}, "message and reason are required"},
		{"auth without credential", model.BundleInstanceAuthSetInput{Auth: &model.AuthInput{}}, "credential: required"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.SetInstanceAuth(e.ctx, a.ID, &tt.in)
			wantCode(t, err, apperr.CodeInvalidInput)
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("message %q does not mention %q", err, tt.want)
			}
		})
	}

	set, err := e.svc.SetInstanceAuth(e.ctx, a.ID, &model.BundleInstanceAuthSetInput{Auth: basicAuth("late", "pw")})
	mustOK(t, err)
	if set.Status.Condition != "SUCCEEDED" || username(set.Auth) != "late" {
		t.Fatalf("set: %+v", set)
	}
	_, err = e.svc.SetInstanceAuth(e.ctx, a.ID, &model.BundleInstanceAuthSetInput{Auth: basicAuth("again", "pw")})
	wantCode(t, err, apperr.CodeConflict)
	_, err = e.svc.SetInstanceAuth(e.ctx, "no-such-auth", &model.BundleInstanceAuthSetInput{Auth: basicAuth("u", "p")})
	wantCode(t, err, apperr.CodeNotFound)

	owner, err := e.svc.BundleByInstanceAuth(e.ctx, a.ID)
	mustOK(t, err)
	if owner.ID != b.ID {
		t.Fatalf("bundleByInstanceAuth: %+v", owner)
	}
	lists, errs := e.svc.InstanceAuthLists(e.ctx, []string{b.ID})
	mustOK(t, firstErr(errs))
	if len(lists[0]) != 1 || lists[0][0].ID != a.ID {
		t.Fatalf("instance auths of the bundle: %+v", lists[0])
	}
}

func TestRequestInstanceAuthDeletion(t *testing.T) {
	tests := []struct {
		name        string
		defaultAuth bool
		set         *model.BundleInstanceAuthSetInput // the application's answer before the deletion request
		wantDeleted bool
	}{
		// Compass's rule (issue 9, defect 4): deleted at once only when the bundle has a default auth,
		// otherwise UNUSED whatever the condition.
		{name: "pending becomes unused", wantDeleted: false},
		{name: "failed becomes unused", set: &model.BundleInstanceAuthSetInput{Status: &model.BundleInstanceAuthStatusInput{Condition: "FAILED", Message: "no", Reason: "Refused"}}},
		{name: "succeeded becomes unused", set: &model.BundleInstanceAuthSetInput{Auth: basicAuth("u", "p")}},
		{name: "default auth is deleted", defaultAuth: true, wantDeleted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, hookConfig)
			in := model.BundleCreateInput{Name: "b"}
			if tt.defaultAuth {
				in.DefaultInstanceAuth = basicAuth("d", "p")
			}
			b := e.addBundle(t, e.addApp(t), in)
			a, err := e.svc.RequestInstanceAuth(e.ctx, b.ID, &model.BundleInstanceAuthRequestInput{})
			mustOK(t, err)
			if tt.set != nil {
				_, err := e.svc.SetInstanceAuth(e.ctx, a.ID, tt.set)
				mustOK(t, err)
			}
			got, err := e.svc.RequestInstanceAuthDeletion(e.ctx, a.ID)
			mustOK(t, err)
			_, lookupErr := e.svc.InstanceAuth(e.ctx, a.ID)
			if tt.wantDeleted {
				wantCode(t, lookupErr, apperr.CodeNotFound)
				return
			}
			mustOK(t, lookupErr)
			if got.Status.Condition != "UNUSED" || got.Status.Reason != "PendingDeletion" {
				t.Fatalf("status %+v", got.Status)
			}
			del, err := e.svc.DeleteInstanceAuth(e.ctx, a.ID)
			mustOK(t, err)
			if del.Status.Condition != "UNUSED" {
				t.Fatalf("deleted: %+v", del)
			}
			_, err = e.svc.DeleteInstanceAuth(e.ctx, a.ID)
			wantCode(t, err, apperr.CodeNotFound)
		})
	}
}
