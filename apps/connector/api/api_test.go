package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/connector/api"
	"github.com/mgmtplane/mgmtplane/apps/connector/ca"
	"github.com/mgmtplane/mgmtplane/apps/connector/oauth"
	"github.com/mgmtplane/mgmtplane/apps/connector/trust"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	cert, key, err := ca.Generate(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	authority, err := ca.New(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	store := registry.New(memstate.New(), "connectorstore")
	svc := trust.NewService(quiet, store, authority, trust.Config{
		CertValidity: time.Hour, TokenTTLApplication: 5 * time.Minute, TokenTTLRuntime: time.Hour,
		ConnectorURL: "http://gw/connector/graphql",
	}, time.Now)
	signingKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	clients, err := oauth.NewService(quiet, store, signingKey, oauth.Config{
		Issuer: "test-connector", TokenURL: "http://gw/oauth/token", TokenTTL: time.Hour,
	}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler(quiet, svc, clients, nil))
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url string, body string, header http.Header) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func TestTokensEndpoint(t *testing.T) {
	srv := newServer(t)
	for _, tc := range []struct {
		body   string
		status int
		code   string
	}{
		{`{"tenant":"t1","consumerID":"app-1","consumerType":"APPLICATION"}`, http.StatusOK, ""},
		{`{"tenant":"t1","consumerID":"app-1","consumerType":"USER"}`, http.StatusBadRequest, "INVALID_INPUT"},
		{`{"tenant":"t1","consumerID":"app-1","consumerType":"APPLICATION","extra":1}`, http.StatusBadRequest, "INVALID_INPUT"},
		{`not json`, http.StatusBadRequest, "INVALID_INPUT"},
		{`{"tenant":"` + strings.Repeat("x", 5000) + `"}`, http.StatusBadRequest, "INVALID_INPUT"},
	} {
		status, raw := do(t, http.MethodPost, srv.URL+"/tokens", tc.body, nil)
		if status != tc.status {
			t.Errorf("%.40s: status %d (%s), want %d", tc.body, status, raw, tc.status)
			continue
		}
		var out struct {
			Token, ConnectorURL, Code string
			ExpiresAt                 time.Time
		}
		_ = json.Unmarshal(raw, &out)
		if tc.code != out.Code {
			t.Errorf("%.40s: code %q, want %q", tc.body, out.Code, tc.code)
		}
		if status == http.StatusOK && (len(out.Token) < 22 || out.ConnectorURL != "http://gw/connector/graphql" || out.ExpiresAt.IsZero()) {
			t.Errorf("token answer %s", raw)
		}
	}
}

func TestCAAndStatusEndpoints(t *testing.T) {
	srv := newServer(t)
	status, raw := do(t, http.MethodGet, srv.URL+"/ca.pem", "", nil)
	b, _ := pem.Decode(raw)
	if status != http.StatusOK || b == nil {
		t.Fatalf("ca.pem: %d %s", status, raw)
	}
	if c, err := x509.ParseCertificate(b.Bytes); err != nil || !c.IsCA {
		t.Fatalf("ca.pem is not a CA: %v", err)
	}
	status, raw = do(t, http.MethodGet, srv.URL+"/certificates/abc123/status", "", nil)
	if status != http.StatusOK || strings.TrimSpace(string(raw)) != `{"known":false,"revoked":false}` {
		t.Fatalf("status of an unknown serial: %d %s", status, raw)
	}
	status, _ = do(t, http.MethodGet, srv.URL+"/certificates/xyz/status", "", nil)
	if status != http.StatusBadRequest {
		t.Fatalf("status of a malformed serial: %d", status)
	}
}

func TestGraphQLErrorsCarryCodes(t *testing.T) {
	srv := newServer(t)
	_, raw := do(t, http.MethodPost, srv.URL+"/tokens", `{"tenant":"t1","consumerID":"app-1","consumerType":"APPLICATION"}`, nil)
	var tok struct{ Token string }
	_ = json.Unmarshal(raw, &tok)

	for _, tc := range []struct {
		name   string
		query  string
		header http.Header
		code   string
	}{
		{"no credential", `{ configuration { token { token } } }`, nil, "UNAUTHENTICATED"},
		{"wrong token", `{ configuration { token { token } } }`, http.Header{identity.HeaderConnectorToken: {"nope"}}, "UNAUTHENTICATED"},
		{"garbage csr", `mutation { signCertificateSigningRequest(csr: "Zm9v") { clientCertificate } }`,
			http.Header{identity.HeaderConnectorToken: {tok.Token}}, "INVALID_INPUT"},
		{"revoke without certificate", `mutation { revokeCertificate }`, nil, "UNAUTHENTICATED"},
		{"syntax", `{ configuration `, nil, "GRAPHQL_PARSE_FAILED"},
	} {
		body, _ := json.Marshal(map[string]string{"query": tc.query})
		_, raw := do(t, http.MethodPost, srv.URL+"/graphql", string(body), tc.header)
		var out struct {
			Errors []struct {
				Extensions struct{ Code string }
			}
		}
		if err := json.Unmarshal(raw, &out); err != nil || len(out.Errors) == 0 || out.Errors[0].Extensions.Code != tc.code {
			t.Errorf("%s: %s, want code %s", tc.name, raw, tc.code)
		}
	}

	// The refused CSR did not use the token up.
	body, _ := json.Marshal(map[string]string{"query": `{ configuration { token { token } certificateSigningRequestInfo { subject keyAlgorithm } } }`})
	_, raw = do(t, http.MethodPost, srv.URL+"/graphql", string(body), http.Header{identity.HeaderConnectorToken: {tok.Token}})
	if !strings.Contains(string(raw), `"subject":"CN=app-1,OU=APPLICATION,O=t1"`) {
		t.Fatalf("configuration: %s", raw)
	}
}
