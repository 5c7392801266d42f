package bundle_test

import (
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

const maxSpec = 64

// specServer serves specifications: /spec (basic auth u:p, header X-Tenant-Key and query param v
// required), /open, /missing (404), /big (over the size limit), /slow (past the timeout) and /flaky (fails
// while down is set).
func specServer(t *testing.T, down *atomic.Bool) *httptest.Server {
	t.Helper()
	var version atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/spec", func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != "u" || p != "p" || r.Header.Get("X-Tenant-Key") != "k" || r.URL.Query().Get("v") != "1" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "openapi: 3.0.0")
	})
	mux.HandleFunc("/open", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "asyncapi: 2.0.0") })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		// No Content-Length: the limit must hold on the body itself.
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, strings.Repeat("x", maxSpec+1))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	})
	mux.HandleFunc("/flaky", func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, "version "+string(rune('0'+version.Add(1))))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func fetched(url string, auth *model.AuthInput) *model.APIDefinitionInput {
	return &model.APIDefinitionInput{Name: "fetched", TargetURL: "https://example.com", Spec: &model.APISpecInput{
		Type: model.APISpecTypeOpenAPI, Format: model.SpecFormatYaml, FetchRequest: &model.FetchRequestInput{URL: url, Auth: auth},
	}}
}

// A specification with a fetch request and no data is downloaded when it is created; a failed download
// shows in its status and does not fail the mutation.
func TestFetchOnCreate(t *testing.T) {
	srv := specServer(t, &atomic.Bool{})
	withHeaders := basicAuth("u", "p")
	withHeaders.AdditionalHeadersSerialized = ptr(`{"X-Tenant-Key":["k"]}`)
	withHeaders.AdditionalQueryParams = model.QueryParams{"v": {"1"}}
	oauth := &model.AuthInput{Credential: &model.CredentialDataInput{Oauth: &model.OAuthCredentialDataInput{ClientID: "c", ClientSecret: "s", URL: "https://token"}}}
	tests := []struct {
		name     string
		in       *model.APIDefinitionInput
		wantCond model.FetchRequestStatusCondition
		wantData string
		wantMsg  string
	}{
		{"with credentials", fetched(srv.URL+"/spec", withHeaders), "SUCCEEDED", "openapi: 3.0.0", ""},
		{"without the credentials it needs", fetched(srv.URL+"/spec", nil), "FAILED", "", "401 Unauthorized"},
		{"not found", fetched(srv.URL+"/missing", nil), "FAILED", "", "404 Not Found"},
		{"too large", fetched(srv.URL+"/big", nil), "FAILED", "", "larger than the limit of 64 bytes"},
		{"too slow", fetched(srv.URL+"/slow", nil), "FAILED", "", "no answer within 500ms"},
		{"unreachable", fetched("http://127.0.0.1:1/spec", nil), "FAILED", "", "connect"},
		{"oauth is not supported", fetched(srv.URL+"/open", oauth), "FAILED", "", "only basic credentials"},
		{"other modes are not supported", func() *model.APIDefinitionInput {
			in := fetched(srv.URL+"/open", nil)
			in.Spec.FetchRequest.Mode = ptr(model.FetchModeBundle)
			return in
		}(), "FAILED", "", "fetch mode BUNDLE is not supported"},
		{"filters are not supported", func() *model.APIDefinitionInput {
			in := fetched(srv.URL+"/open", nil)
			in.Spec.FetchRequest.Filter = ptr("odata.json")
			return in
		}(), "FAILED", "", "filters are not supported"},
		{"data given: no download", func() *model.APIDefinitionInput {
			in := fetched(srv.URL+"/missing", nil)
			in.Spec.Data = ptr("inline")
			return in
		}(), "INITIAL", "inline", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, bundle.Config{MaxSpecSize: maxSpec, FetchTimeout: 500 * time.Millisecond})
			b := e.addBundle(t, e.addApp(t), model.BundleCreateInput{Name: "b"})
			a, err := e.svc.AddAPIDefinition(e.ctx, b.ID, tt.in)
			mustOK(t, err)
			checkSpec(t, a.Spec.FetchRequest, a.Spec.Data, tt.wantCond, tt.wantData, tt.wantMsg)
			stored, _ := e.svc.APIDefinitionsByID(e.ctx, []bundle.ChildKey{{Parent: b.ID, ID: a.ID}})
			checkSpec(t, stored[0].Spec.FetchRequest, stored[0].Spec.Data, tt.wantCond, tt.wantData, tt.wantMsg)
		})
	}
}

func checkSpec(t *testing.T, fr *model.FetchRequest, data *string, cond model.FetchRequestStatusCondition, wantData, wantMsg string) {
	t.Helper()
	if fr.Status.Condition != cond {
		t.Fatalf("status %s, want %s (message %v)", fr.Status.Condition, cond, deref(fr.Status.Message))
	}
	if deref(data) != wantData {
		t.Fatalf("data %q, want %q", deref(data), wantData)
	}
	if !strings.Contains(deref(fr.Status.Message), wantMsg) {
		t.Fatalf("message %q does not mention %q", deref(fr.Status.Message), wantMsg)
	}
	if fr.Status.Timestamp.IsZero() {
		t.Fatal("no timestamp")
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func TestRefetch(t *testing.T) {
	var down atomic.Bool
	srv := specServer(t, &down)
	e := newEnv(t, bundle.Config{MaxSpecSize: maxSpec, FetchTimeout: 500 * time.Millisecond})
	b := e.addBundle(t, e.addApp(t), model.BundleCreateInput{Name: "b", Documents: []*model.DocumentInput{{
		Title: "t", DisplayName: "t", Description: "d", Format: model.DocumentFormatMarkdown,
		FetchRequest: &model.FetchRequestInput{URL: srv.URL + "/open"},
	}}})
	a, err := e.svc.AddAPIDefinition(e.ctx, b.ID, fetched(srv.URL+"/flaky", nil))
	mustOK(t, err)
	checkSpec(t, a.Spec.FetchRequest, a.Spec.Data, "SUCCEEDED", "version 1", "")

	spec, err := e.svc.RefetchAPISpec(e.ctx, a.ID)
	mustOK(t, err)
	checkSpec(t, spec.FetchRequest, spec.Data, "SUCCEEDED", "version 2", "")

	down.Store(true)
	spec, err = e.svc.RefetchAPISpec(e.ctx, a.ID)
	mustOK(t, err)
	// The last good data stays; the status tells the download failed.
	checkSpec(t, spec.FetchRequest, spec.Data, "FAILED", "version 2", "502 Bad Gateway")
	stored, _ := e.svc.APIDefinitionsByID(e.ctx, []bundle.ChildKey{{Parent: b.ID, ID: a.ID}})
	checkSpec(t, stored[0].Spec.FetchRequest, stored[0].Spec.Data, "FAILED", "version 2", "502")

	// Refetching keeps the definition in its indexes.
	if p := e.apis(t, e.ctx, bundle.ListKey{Parent: b.ID, First: 10}); p.TotalCount != 1 {
		t.Fatalf("definition lost from its bundle: %+v", p)
	}

	big, err := e.svc.AddAPIDefinition(e.ctx, b.ID, fetched(srv.URL+"/big", nil))
	mustOK(t, err)
	spec, err = e.svc.RefetchAPISpec(e.ctx, big.ID)
	mustOK(t, err)
	checkSpec(t, spec.FetchRequest, spec.Data, "FAILED", "", "larger than")

	ev, err := e.svc.AddEventDefinition(e.ctx, b.ID, &model.EventDefinitionInput{Name: "ev", Spec: &model.EventSpecInput{
		Type: model.EventSpecTypeAsyncAPI, Format: model.SpecFormatYaml, FetchRequest: &model.FetchRequestInput{URL: srv.URL + "/open"},
	}})
	mustOK(t, err)
	evSpec, err := e.svc.RefetchEventSpec(e.ctx, ev.ID)
	mustOK(t, err)
	checkSpec(t, evSpec.FetchRequest, evSpec.Data, "SUCCEEDED", "asyncapi: 2.0.0", "")

	docs, _ := e.svc.DocumentPages(e.ctx, []bundle.ListKey{{Parent: b.ID, First: 1}})
	d := docs[0].Data[0]
	checkSpec(t, d.FetchRequest, d.Data, "SUCCEEDED", "asyncapi: 2.0.0", "")

	inline, err := e.svc.AddAPIDefinition(e.ctx, b.ID, api("inline"))
	mustOK(t, err)
	_, err = e.svc.RefetchAPISpec(e.ctx, inline.ID)
	wantCode(t, err, apperr.CodeInvalidInput)
	_, err = e.svc.RefetchAPISpec(e.ctx, "no-such-api")
	wantCode(t, err, apperr.CodeNotFound)
}
