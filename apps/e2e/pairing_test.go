package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/connectorclient"
	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
)

const pairingTenant = "tenant-pairing"

// oneTimeToken asks the Director (as an admin user) for a pairing token of an application or runtime.
func oneTimeToken(t *testing.T, kind, id string) (token, connectorURL string) {
	t.Helper()
	field := "requestOneTimeTokenFor" + kind
	var out map[string]struct{ Token, ConnectorURL string }
	ok(t, gql(t, pairingTenant, `mutation($id: ID!) { `+field+`(id: $id) { token connectorURL } }`, map[string]any{"id": id}), &out)
	return out[field].Token, out[field].ConnectorURL
}

func connector() *connectorclient.Client {
	return connectorclient.New(stack.AppURL("gateway")+"/connector/graphql", nil)
}

// mtls returns an HTTP client presenting cred's certificate and trusting the gateway's local certificate.
func mtls(t *testing.T, cred *connectorclient.Credentials) *http.Client {
	t.Helper()
	cfg, err := cred.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	serverCA, err := os.ReadFile(filepath.Join(stack.Dir, "tls", "gateway.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RootCAs = x509.NewCertPool()
	cfg.RootCAs.AppendCertsFromPEM(serverCA)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// secure sends a GraphQL request over the gateway's TLS listener with a client certificate.
func secure(t *testing.T, hc *http.Client, path, query string, vars map[string]any) *stacktest.Response {
	t.Helper()
	old := http.DefaultClient
	http.DefaultClient = hc
	defer func() { http.DefaultClient = old }()
	r, err := stacktest.GraphQL(context.Background(), stack.AppTLSURL("gateway")+path, nil, query, vars)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func register(t *testing.T, name string, scenarios ...string) string {
	t.Helper()
	in := map[string]any{"name": name}
	if len(scenarios) > 0 {
		in["labels"] = map[string]any{"scenarios": scenarios}
	}
	var reg struct{ RegisterApplication appData }
	ok(t, gql(t, pairingTenant, registerApp, map[string]any{"in": in}), &reg)
	return reg.RegisterApplication.ID
}

func TestPairingAndCertificates(t *testing.T) {
	allowScenarios(t, pairingTenant, "blue")
	appID := register(t, "paired-app")
	otherID := register(t, "other-app")
	blueID := register(t, "blue-app", "blue")

	token, url := oneTimeToken(t, "Application", appID)
	if !strings.HasSuffix(url, "/connector/graphql") {
		t.Fatalf("connectorURL %q", url)
	}
	cred, err := connector().Pair(context.Background(), token)
	if err != nil {
		t.Fatalf("pair: %v", err)
	}
	if cred.ConsumerID != appID || cred.Tenant != pairingTenant || cred.ConsumerType != "APPLICATION" {
		t.Fatalf("certificate for %+v", cred)
	}

	t.Run("a used token is refused", func(t *testing.T) {
		if _, err := connector().Pair(context.Background(), token); err == nil {
			t.Fatal("the one-time token worked twice")
		}
	})
	t.Run("an expired token is refused", func(t *testing.T) {
		expiring, _ := oneTimeToken(t, "Application", otherID)
		time.Sleep(4 * time.Second) // the suite's connector gives application tokens 3 s
		if _, err := connector().Pair(context.Background(), expiring); err == nil {
			t.Fatal("an expired one-time token worked")
		}
	})
	t.Run("a CSR for another subject is refused", func(t *testing.T) {
		tok, _ := oneTimeToken(t, "Application", otherID)
		h := http.Header{"Connector-Token": {tok}}
		conf, err := stacktest.GraphQL(context.Background(), stack.AppURL("gateway")+"/connector/graphql", h,
			`{ configuration { token { token } } }`, nil)
		if err != nil || len(conf.Errors) > 0 {
			t.Fatalf("configuration: %v %s", err, conf.Raw)
		}
		var c struct {
			Configuration struct{ Token struct{ Token string } }
		}
		_ = conf.Decode(&c)
		csr := csrFor(t, pkix.Name{CommonName: blueID, OrganizationalUnit: []string{"APPLICATION"}, Organization: []string{pairingTenant}})
		r, err := stacktest.GraphQL(context.Background(), stack.AppURL("gateway")+"/connector/graphql",
			http.Header{"Connector-Token": {c.Configuration.Token.Token}},
			`mutation($csr: String!) { signCertificateSigningRequest(csr: $csr) { clientCertificate } }`, map[string]any{"csr": csr})
		if err != nil || len(r.Errors) == 0 || r.Errors[0].Code() != "FORBIDDEN" {
			t.Fatalf("CSR for another application: %v %s", err, r.Raw)
		}
	})
	t.Run("a token opens only the pairing operations", func(t *testing.T) {
		tok, _ := oneTimeToken(t, "Application", otherID)
		r, err := stacktest.GraphQL(context.Background(), stack.AppURL("gateway")+"/connector/graphql",
			http.Header{"Connector-Token": {tok}}, `mutation { revokeCertificate }`, nil)
		if err != nil || r.Status != http.StatusForbidden {
			t.Fatalf("revokeCertificate with a one-time token: %v %d %s", err, r.Status, r.Raw)
		}
	})

	hc := mtls(t, cred)
	t.Run("a paired application sees only itself", func(t *testing.T) {
		var page appPage
		ok(t, secure(t, hc, "/director/graphql", listApps, map[string]any{"first": 10}), &page)
		if page.Applications.TotalCount != 1 || len(page.Applications.Data) != 1 || page.Applications.Data[0].ID != appID {
			t.Fatalf("the application lists %+v", page.Applications)
		}
		refused(t, "the application reads another application", secure(t, hc, "/director/graphql", getApp, map[string]any{"id": otherID}), "application")
		r := secure(t, hc, "/director/graphql", registerApp, map[string]any{"in": map[string]any{"name": "by-an-app"}})
		if len(r.Errors) == 0 || r.Errors[0].Code() != "FORBIDDEN" {
			t.Fatalf("an application registered an application: %s", r.Raw)
		}
	})

	t.Run("a runtime sees only its scenarios' applications", func(t *testing.T) {
		var rt struct{ RegisterRuntime struct{ ID string } }
		ok(t, gql(t, pairingTenant, `mutation { registerRuntime(in: {name: "paired-runtime", labels: {scenarios: ["blue"]}}) { id } }`, nil), &rt)
		rtok, _ := oneTimeToken(t, "Runtime", rt.RegisterRuntime.ID)
		rcred, err := connector().Pair(context.Background(), rtok)
		if err != nil {
			t.Fatal(err)
		}
		rc := mtls(t, rcred)
		var page appPage
		ok(t, secure(t, rc, "/director/graphql", listApps, map[string]any{"first": 10}), &page)
		if page.Applications.TotalCount != 1 || page.Applications.Data[0].ID != blueID {
			t.Fatalf("the runtime lists %+v", page.Applications)
		}

		// Unregistering the runtime revokes its certificates with it. The gateway remembered the certificate
		// as good (the request above); the Connector's certificate.revoked event makes it forget.
		ok(t, gql(t, pairingTenant, `mutation($id: ID!) { unregisterRuntime(id: $id) { id } }`, map[string]any{"id": rt.RegisterRuntime.ID}), nil)
		rc.CloseIdleConnections()
		if r := refusedSoon(t, rc); r.Status != http.StatusUnauthorized {
			t.Fatalf("the certificate of an unregistered runtime still works: %d %s", r.Status, r.Raw)
		}
	})

	t.Run("a revoked certificate is refused at once", func(t *testing.T) {
		var rev struct{ RevokeCertificate bool }
		// Revoking authenticates with the certificate, so the gateway remembers it as good right before.
		ok(t, secure(t, hc, "/connector/graphql", `mutation { revokeCertificate }`, nil), &rev)
		if !rev.RevokeCertificate {
			t.Fatal("revokeCertificate answered false")
		}
		hc.CloseIdleConnections()
		r := refusedSoon(t, hc)
		if r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Raw), "revoked") {
			t.Fatalf("after revocation: %d %s", r.Status, r.Raw)
		}
	})
}

// revocationLatency bounds how long a revoked certificate may still work: the Connector's certificate.revoked
// event (its outbox relay, then the broker) has to reach the gateway. It is well below the gateway's
// REVOCATION_CACHE_TTL (2 min), so a refusal within it is the event's doing, not the cache entry lapsing.
const revocationLatency = 10 * time.Second

// refusedSoon asks as hc until the gateway refuses its certificate, for at most revocationLatency, and
// returns the last answer.
func refusedSoon(t *testing.T, hc *http.Client) *stacktest.Response {
	t.Helper()
	start := time.Now()
	for {
		r := secure(t, hc, "/director/graphql", listApps, nil)
		if r.Status == http.StatusUnauthorized || time.Since(start) > revocationLatency {
			t.Logf("refused after %v (%d)", time.Since(start).Round(time.Millisecond), r.Status)
			return r
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// csrFor returns a base64 PEM CSR for subject with a fresh key.
func csrFor(t *testing.T, subject pkix.Name) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject}, key)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}
