package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"github.com/mgmtplane/mgmtplane/apps/director/access"
	"github.com/mgmtplane/mgmtplane/apps/director/directortest"
	"github.com/mgmtplane/mgmtplane/apps/director/label"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// post sends query to a Director server (label definitions only) as the caller id.
func post(t *testing.T, srv http.Handler, id identity.Identity, query string) (json.RawMessage, []gqlError) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req = req.WithContext(identity.NewContext(req.Context(), id))
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	var resp struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("status %d, body %s: %v", rec.Code, rec.Body, err)
	}
	return resp.Data, resp.Errors
}

func labelServer() http.Handler {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return NewServer(&Resolver{Labels: label.NewDefinitions(directortest.Registry())}, log, nil)
}

var admin = identity.Identity{Tenant: "t1", Subject: "admin",
	Scopes: []string{identity.ScopeLabelDefinitionRead, identity.ScopeLabelDefinitionWrite}}

// Issue 9, missing behaviour 8: Compass's clients write `labelDefinitions()`.
func TestEmptyArgumentListsAccepted(t *testing.T) {
	c := labelServer()
	data, errs := post(t, c, admin, `query Q() { labelDefinitions() { key } # labelDefinitions() stays a comment
	}`)
	if len(errs) > 0 {
		t.Fatalf("errors %+v", errs)
	}
	if string(data) != `{"labelDefinitions":[]}` {
		t.Fatalf("data %s", data)
	}
}

// Issue 9, missing behaviour 9: errors carry Compass's error_code and error, and their messages begin with
// Compass's words, through the whole server.
func TestCompassErrors(t *testing.T) {
	c := labelServer()
	noScopes := admin
	noScopes.Scopes = nil
	noTenant := admin
	noTenant.Tenant = ""
	runtime := identity.Identity{Tenant: "t1", Subject: "0f8fad5b-d9cb-469f-a165-70867728950e",
		ConsumerType: identity.ConsumerRuntime, Scopes: admin.Scopes}
	for _, tc := range []struct {
		name, query string
		id          identity.Identity
		code        string
		errorCode   float64
		class       string
		prefix      string
	}{
		{"not found", `mutation { deleteLabelDefinition(key: "nope") { key } }`, admin, "NOT_FOUND", 20, "NotFound", "Object not found: "},
		{"invalid", `mutation { createLabelDefinition(in: {key: "k", schema: "{\"type\": 7}"}) { key } }`, admin, "INVALID_INPUT", 22, "InvalidData", "Invalid data: "},
		// A custom scalar's value of the wrong kind: gqlparser lets it through and gqlgen refuses it.
		{"bad scalar", `mutation { createLabelDefinition(in: {key: "k", schema: {type: "string"}}) { key } }`, admin, "INVALID_INPUT", 22, "InvalidData", "Invalid data: in.schema: expected a string, got an object"},
		{"parse", `{ labelDefinitions { nope } }`, admin, "GRAPHQL_VALIDATION_FAILED", 22, "InvalidData", "Invalid data: Cannot query field"},
		{"scope", `{ labelDefinitions { key } }`, noScopes, "FORBIDDEN", 23, "InsufficientScopes", "insufficient scopes provided: labelDefinitions requires the scope label_definition:read"},
		{"consumer", `{ labelDefinitions { key } }`, runtime, "FORBIDDEN", 23, "InsufficientScopes", "insufficient scopes provided: "},
		{"tenant", `{ labelDefinitions { key } }`, noTenant, "UNAUTHENTICATED", 24, "TenantRequired", "Tenant is required: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := post(t, c, tc.id, tc.query)
			if len(errs) != 1 {
				t.Fatalf("errors %+v", errs)
			}
			e := errs[0]
			if e.Extensions["code"] != tc.code || e.Extensions["error_code"] != tc.errorCode || e.Extensions["error"] != tc.class ||
				!strings.HasPrefix(e.Message, tc.prefix) {
				t.Fatalf("got %q %v, want code %s, error_code %v, error %s, message beginning %q", e.Message, e.Extensions, tc.code, tc.errorCode, tc.class, tc.prefix)
			}
		})
	}
	// Nothing above created "k".
	_, errs := post(t, c, admin, `mutation { createLabelDefinition(in: {key: "k", schema: "{\"type\": \"string\"}"}) { key } }`)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	_, errs = post(t, c, admin, `mutation { createLabelDefinition(in: {key: "k", schema: "{\"type\": \"string\"}"}) { key } }`)
	if len(errs) != 1 || errs[0].Extensions["error_code"] != 21.0 || !strings.HasPrefix(errs[0].Message, "Object is not unique: ") {
		t.Fatalf("a second definition: %+v", errs)
	}
}

// The classes of errors no label definition request makes, presented directly.
func TestPresentErrorClasses(t *testing.T) {
	present := PresentError(slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := graphql.WithResponseContext(identity.NewContext(context.Background(), admin), graphql.DefaultErrorPresenter, nil)
	for _, tc := range []struct {
		err       error
		errorCode int
		class     string
		message   string
	}{
		{access.NotAllowed(), 27, "InvalidOperation", "The operation is not allowed"},
		{apperr.New(apperr.CodeForbidden, "only runtime r itself may send its heartbeat"), 27, "InvalidOperation", "The operation is not allowed: only runtime r itself may send its heartbeat"},
		{apperr.New(apperr.CodeConflict, "label \"x\" is still in use"), 27, "InvalidOperation", "The operation is not allowed: label \"x\" is still in use"},
		{apperr.NameNotUnique("an application named %q already exists", "a"), 31, "NotUniqueName", "Object name is not unique: an application named \"a\" already exists"},
		{apperr.New(apperr.CodeAlreadyExists, "label definition \"k\" already exists"), 21, "NotUnique", "Object is not unique: label definition \"k\" already exists"},
		{apperr.New(apperr.CodeInvalidLabelQuery, "bad filter"), 22, "InvalidData", "Invalid data: bad filter"},
		{apperr.New(apperr.CodeUnavailable, "too many concurrent writers, try again"), 10, "InternalError", "Internal Server Error: too many concurrent writers, try again"},
		{apperr.New(apperr.CodeUnauthenticated, "the request carries no caller identity"), 26, "Unauthorized", "Unauthorized: the request carries no caller identity"},
		{errors.New("disk on fire"), 10, "InternalError", "Internal Server Error [errorID="},
	} {
		got := present(ctx, tc.err)
		if got.Extensions["error_code"] != tc.errorCode || got.Extensions["error"] != tc.class || !strings.HasPrefix(got.Message, tc.message) {
			t.Errorf("%v: got %q %v, want %d %s %q", tc.err, got.Message, got.Extensions, tc.errorCode, tc.class, tc.message)
		}
		if strings.Contains(got.Message, "disk on fire") {
			t.Errorf("an internal error's details reached the client: %q", got.Message)
		}
	}
}

// A query text seen before skips parsing and validation, but nothing decided per request: the access rules
// (the caller's scopes) hold for it every time.
func TestRepeatedQueriesAreCheckedEachTime(t *testing.T) {
	c := labelServer()
	const q = `{ labelDefinitions { key } }`
	for range 2 {
		if _, errs := post(t, c, admin, q); len(errs) > 0 {
			t.Fatalf("errors %+v", errs)
		}
	}
	reader := admin
	reader.Scopes = nil
	if _, errs := post(t, c, reader, q); len(errs) == 0 {
		t.Fatal("a cached query ran without the scope it needs")
	}
}
