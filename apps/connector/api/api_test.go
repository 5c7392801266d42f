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
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion/assertiontest"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// kit signs the caller assertions of the requests in these tests, as the gateway does; newServer makes it.
var kit *assertiontest.Kit

// as is a header carrying an assertion for a user of tenant.
func as(t *testing.T, tenant string) http.Header {
	return kit.Header(t, identity.Identity{Tenant: tenant, Subject: "ann", ConsumerType: identity.ConsumerUser}, "connector")
}

// withToken is a header carrying the gateway's assertion for a caller with a one-time token.
func withToken(t *testing.T, tok string) http.Header {
	return kit.Header(t, identity.Identity{ConnectorToken: tok}, "connector")
}

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
	kit = assertiontest.New(t)
	srv := httptest.NewServer(api.Handler(quiet, svc, clients, nil, kit.Verifier("connector")))
	t.Cleanup(srv.Close)
	return srv
}

// do sends a request; without an assertion in header, it carries one for a user of tenant t1.
func do(t *testing.T, method, url string, body string, header http.Header) (int, []byte) {
	t.Helper()
	if header.Get(assertion.Header) == "" {
		header = as(t, "t1")
	}
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
	// The serial in the query (what the gateway asks) or in the path (what older gateways ask).
	for _, path := range []string{"/certificates/status?serial=abc123", "/certificates/abc123/status"} {
		status, raw = do(t, http.MethodGet, srv.URL+path, "", nil)
		if status != http.StatusOK || strings.TrimSpace(string(raw)) != `{"known":false,"revoked":false}` {
			t.Fatalf("%s: status of an unknown serial: %d %s", path, status, raw)
		}
	}
	for _, path := range []string{"/certificates/status?serial=xyz", "/certificates/xyz/status", "/certificates/status"} {
		if status, _ = do(t, http.MethodGet, srv.URL+path, "", nil); status != http.StatusBadRequest {
			t.Fatalf("%s: status of a malformed or missing serial: %d", path, status)
		}
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
		{"no credential", `{ configuration { token { token } } }`, withToken(t, ""), "UNAUTHENTICATED"},
		{"wrong token", `{ configuration { token { token } } }`, withToken(t, "nope"), "UNAUTHENTICATED"},
		{"garbage csr", `mutation { signCertificateSigningRequest(csr: "Zm9v") { clientCertificate } }`,
			withToken(t, tok.Token), "INVALID_INPUT"},
		{"revoke without certificate", `mutation { revokeCertificate }`, withToken(t, ""), "UNAUTHENTICATED"},
		{"syntax", `{ configuration `, withToken(t, ""), "GRAPHQL_PARSE_FAILED"},
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
	_, raw = do(t, http.MethodPost, srv.URL+"/graphql", string(body), withToken(t, tok.Token))
	if !strings.Contains(string(raw), `"subject":"CN=app-1,OU=APPLICATION,O=t1"`) {
		t.Fatalf("configuration: %s", raw)
	}
}

func TestInternalRoutesNeedAnAssertionForTheirTenant(t *testing.T) {
	srv := newServer(t)
	owner := `{"tenant":"t1","consumerID":"app-1","consumerType":"APPLICATION"}`
	other := assertiontest.New(t)
	for name, h := range map[string]http.Header{
		"identity headers only":      {"X-Mp-Tenant": {"t1"}, "X-Mp-Consumer-Type": {"USER"}, assertion.Header: {""}},
		"assertion of another key":   other.Header(t, identity.Identity{Tenant: "t1", ConsumerType: identity.ConsumerUser}, "connector"),
		"assertion for the director": kit.Header(t, identity.Identity{Tenant: "t1", ConsumerType: identity.ConsumerUser}, "director"),
	} {
		h := h
		if h.Get(assertion.Header) == "" {
			// do adds a default assertion to a header without one; send this one by hand.
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/tokens", strings.NewReader(owner))
			req.Header = h
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: %d", name, resp.StatusCode)
			}
			continue
		}
		if status, raw := do(t, http.MethodPost, srv.URL+"/tokens", owner, h); status != http.StatusUnauthorized || !strings.Contains(string(raw), "UNAUTHENTICATED") {
			t.Errorf("%s: %d %s", name, status, raw)
		}
	}
	// A valid assertion of another tenant's caller cannot act in t1.
	if status, raw := do(t, http.MethodPost, srv.URL+"/tokens", owner, as(t, "t2")); status != http.StatusForbidden {
		t.Errorf("other tenant: %d %s", status, raw)
	}
	// The gateway's own service identity has no tenant to act in.
	svc := kit.Header(t, identity.Identity{Subject: "gateway", ConsumerType: identity.ConsumerService}, "connector")
	if status, raw := do(t, http.MethodPost, srv.URL+"/clients", owner, svc); status != http.StatusForbidden {
		t.Errorf("service identity: %d %s", status, raw)
	}
	if status, _ := do(t, http.MethodGet, srv.URL+"/ca.pem", "", svc); status != http.StatusOK {
		t.Errorf("ca.pem for the gateway: %d", status)
	}
}
