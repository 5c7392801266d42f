package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/gateway/authn"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion/assertiontest"
)

// What the gateway itself spends on a request of a user with a JWT, the sidecar left out (it answers at
// once): the middlewares, the token check, the assertion, forwarding and copying the answer. As the
// gateway runs: tokens remembered, assertions reused, requests logged (to nowhere).
func BenchmarkForwardUserRequest(b *testing.B) {
	k := assertiontest.New(b)
	k.Signer.Reuse(10 * time.Second)
	users := authn.BearerToken{Verifier: &authn.Verifier{Keys: &authn.FileKeys{Path: testKey.JWKSPath()}, Remember: true}}
	r := newRouter(slog.New(slog.NewJSONHandler(io.Discard, nil)), answering{}, k.Signer, routeConfig{
		Services: map[string]service{"director": {AppID: "director", Delegates: []string{"connector"},
			Auth: authn.Authenticate(users)}}, MaxBodyBytes: 1 << 20,
	})
	tok, err := testKey.Sign("acme", "ann", []string{"application:read"}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	const body = `{"query":"query($id: ID!) { application(id: $id) { id name } }","variables":{"id":"a1"}}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/director/graphql", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// answering is a sidecar that reads the request and answers at once.
type answering struct{}

func (answering) Do(_ context.Context, _, _, _ string, _ http.Header, body io.Reader) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, body)
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"data":{"application":{"id":"a1","name":"x"}}}`))}, nil
}

func (answering) Ready(context.Context) error { return nil }
