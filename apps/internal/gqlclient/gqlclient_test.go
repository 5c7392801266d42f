package gqlclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/internal/gqlclient"
)

func TestDecode(t *testing.T) {
	type data struct {
		Application *struct {
			ID string `json:"id"`
		} `json:"application"`
	}
	tests := []struct {
		name   string
		status int
		body   string
		id     string // the decoded id on success
		code   string // the *Error code expected, "-" for a *StatusError
	}{
		{"data", 200, `{"data":{"application":{"id":"a1"}}}`, "a1", ""},
		{"null data", 200, `{"data":{"application":null}}`, "", ""},
		{"graphql error", 200, `{"errors":[{"message":"not found","extensions":{"code":"NOT_FOUND"}},{"message":"second"}],"data":null}`, "", "NOT_FOUND"},
		{"graphql error on a 422", 422, `{"errors":[{"message":"depth","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}`, "", "GRAPHQL_VALIDATION_FAILED"},
		{"error without a code", 200, `{"errors":[{"message":"boom"}]}`, "", ""},
		{"gateway refusal", 401, `{"error":{"code":"UNAUTHENTICATED","message":"no credentials"}}`, "", "UNAUTHENTICATED"},
		{"proxy error", 502, `Bad Gateway`, "", "-"},
		{"non-200 JSON without errors", 500, `{"errorCode":"ERR_DIRECT_INVOKE"}`, "", "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out data
			err := gqlclient.Decode(tt.status, strings.NewReader(tt.body), 0, &out)
			var (
				gqlErr    *gqlclient.Error
				statusErr *gqlclient.StatusError
			)
			switch {
			case tt.code == "-":
				if !errors.As(err, &statusErr) || statusErr.Status != tt.status {
					t.Fatalf("err %v, want a status error %d", err, tt.status)
				}
			case strings.Contains(tt.body, `"error`):
				if !errors.As(err, &gqlErr) || gqlErr.Code != tt.code || gqlErr.Message == "" {
					t.Fatalf("err %v, want a GraphQL error with code %q", err, tt.code)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				got := ""
				if out.Application != nil {
					got = out.Application.ID
				}
				if got != tt.id {
					t.Errorf("id %q, want %q", got, tt.id)
				}
			}
		})
	}
}

func TestDecodeStopsAtTheLimit(t *testing.T) {
	big := `{"data":{"application":{"id":"` + strings.Repeat("x", 1000) + `"}}}`
	err := gqlclient.Decode(200, strings.NewReader(big), 100, nil)
	var statusErr *gqlclient.StatusError
	if !errors.As(err, &statusErr) {
		t.Fatalf("err %v, want the truncated answer refused", err)
	}
}

func TestPostSendsTheOperationAndHeaders(t *testing.T) {
	var got struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	var header http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header = r.Header.Clone()
		_ = json.NewDecoder(r.Body).Decode(&got)
		_, _ = w.Write([]byte(`{"data":{"ok":true}}`))
	}))
	defer srv.Close()

	h := http.Header{}
	h.Set("Connector-Token", "tok")
	var out struct {
		OK bool `json:"ok"`
	}
	err := gqlclient.Post(context.Background(), srv.Client(), srv.URL, h, 0, `query q($id: ID!) { ok }`, map[string]any{"id": "x"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !out.OK || got.Query != `query q($id: ID!) { ok }` || got.Variables["id"] != "x" {
		t.Errorf("sent %+v, decoded %+v", got, out)
	}
	if header.Get("Connector-Token") != "tok" || header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", header)
	}
}

func TestPostReportsTransportErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	err := gqlclient.Post(context.Background(), http.DefaultClient, srv.URL, nil, 0, `{ ok }`, nil, nil)
	if err == nil || !strings.Contains(err.Error(), srv.URL) {
		t.Fatalf("err %v, want the failed post named", err)
	}
}
