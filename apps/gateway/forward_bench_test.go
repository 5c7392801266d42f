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
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion/assertiontest"
	"github.com/mgmtplane/mgmtplane/apps/internal/invoke"
)

// What the gateway itself spends on a request of a user with a JWT, the sidecar left out (it answers at
// once): the middlewares, the token check, the assertion, forwarding and copying the answer. As the
// gateway runs: tokens remembered, assertions reused, requests logged (to nowhere).
func BenchmarkForwardUserRequest(b *testing.B) {
	benchmarkForward(b, answering{})
}

// The same through the real client of the sidecar (package invoke) to a stand-in sidecar on loopback that
// reads the request and answers at once: what the gateway's HTTP client adds (connection pool, request
// and response encoding, writes), with the stand-in's cost in the same process.
func BenchmarkForwardThroughSidecar(b *testing.B) {
	sidecar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil || r.Header.Get(assertion.Header) == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	}))
	b.Cleanup(sidecar.Close)
	benchmarkForward(b, invoke.New(sidecar.URL, "token", 10*time.Second))
}

func benchmarkForward(b *testing.B, inv Invoker) {
	k := assertiontest.New(b)
	k.Signer.Reuse(10 * time.Second)
	clients := authn.ClientCredentials{Verifier: &authn.Verifier{Issuer: "mgmtplane-connector"}}
	users := authn.BearerToken{Verifier: &authn.Verifier{Keys: &authn.FileKeys{Path: testKey.JWKSPath()}, Remember: true}}
	r := newRouter(slog.New(slog.NewJSONHandler(io.Discard, nil)), inv, k.Signer, routeConfig{
		Services: map[string]service{"director": {AppID: "director", Delegates: []string{"connector"},
			// As the gateway authenticates: certificates and the Connector's tokens are tried first.
			Auth: authn.Authenticate(authn.ClientCertificate{}, clients, users)}}, MaxBodyBytes: 1 << 20,
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
		if rec.Code != http.StatusOK || rec.Body.String() != answer {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// answer is what the stand-in sidecars answer.
const answer = `{"data":{"application":{"id":"a1","name":"x"}}}`

// answering is a sidecar that reads the request and answers at once.
type answering struct{}

func (answering) Do(_ context.Context, _, _, _ string, _ http.Header, body io.Reader) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, body)
	// Only an io.Reader, as a real response body is: a *strings.Reader's WriteTo would hide what copying
	// a response costs.
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(struct{ io.Reader }{strings.NewReader(answer)})}, nil
}

func (answering) Ready(context.Context) error { return nil }

// A request body of a known length reaches the sidecar with its Content-Length, not chunked (requestBody);
// one of unknown length still streams through whole.
func TestForwardSendsBodyWithItsLength(t *testing.T) {
	type seen struct {
		length   int64
		encoding []string
		body     string
	}
	got := make(chan seen, 1)
	sidecar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		got <- seen{r.ContentLength, r.TransferEncoding, string(raw)}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	}))
	defer sidecar.Close()
	k := assertiontest.New(t)
	r := newRouter(slog.New(slog.NewJSONHandler(io.Discard, nil)), invoke.New(sidecar.URL, "", 10*time.Second), k.Signer, routeConfig{
		Services: map[string]service{"director": {AppID: "director", Auth: anonymous()}}, MaxBodyBytes: 1 << 20,
	})
	const body = `{"query":"{ applications { totalCount } }"}`
	for _, tc := range []struct {
		name     string
		length   int64
		chunked  bool
		reader   io.Reader
		wantSize int64
	}{
		{"known length", int64(len(body)), false, strings.NewReader(body), int64(len(body))},
		// Only an io.Reader: the client sends it chunked, and so does the gateway.
		{"unknown length", -1, true, struct{ io.Reader }{strings.NewReader(body)}, -1},
	} {
		req := httptest.NewRequest(http.MethodPost, "/director/graphql", tc.reader)
		req.ContentLength = tc.length
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Body.String() != answer {
			t.Fatalf("%s: %d %s", tc.name, rec.Code, rec.Body)
		}
		s := <-got
		if s.body != body || s.length != tc.wantSize || (len(s.encoding) > 0) != tc.chunked {
			t.Errorf("%s: the sidecar got %d bytes (Content-Length %d, Transfer-Encoding %v), want %q with Content-Length %d",
				tc.name, len(s.body), s.length, s.encoding, body, tc.wantSize)
		}
	}
}
