// The tests run the client against the real Connector in process (its HTTP handler over an in-memory
// state store) behind a small stand-in for the gateway. Only this test imports app code: it is the
// contract between the two.
package connectorclient_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/connector/api"
	"github.com/mgmtplane/mgmtplane/apps/connector/ca"
	"github.com/mgmtplane/mgmtplane/apps/connector/trust"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion/assertiontest"
	"github.com/mgmtplane/mgmtplane/apps/internal/connectorclient"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// plane is a Connector behind a stand-in gateway, on plain HTTP (tokens) and on mutual TLS (certificates).
type plane struct {
	svc       *trust.Service
	kit       *assertiontest.Kit
	connector *httptest.Server // the Connector app itself, for its internal endpoints
	plain     *httptest.Server // the gateway, http
	secure    *httptest.Server // the gateway, https with client certificates
}

func startPlane(t *testing.T) *plane {
	t.Helper()
	certPEM, keyPEM, err := ca.Generate(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	authority, err := ca.New(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	svc := trust.NewService(quiet, registry.New(memstate.New(), "connectorstore"), authority, trust.Config{
		CertValidity: 24 * time.Hour, TokenTTLApplication: 5 * time.Minute, TokenTTLRuntime: time.Hour,
	}, time.Now)
	kit := assertiontest.New(t)
	p := &plane{svc: svc, kit: kit, connector: httptest.NewServer(api.Handler(quiet, svc, nil, nil, kit.Verifier("connector")))}
	gw := &gateway{svc: svc, kit: kit, connector: p.connector.URL}
	p.plain = httptest.NewServer(gw)
	p.secure = httptest.NewUnstartedServer(gw)
	p.secure.TLS = &tls.Config{
		Certificates: []tls.Certificate{serverCert(t, authority.Certificate(), keyPEM)},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    authority.Pool(),
	}
	p.secure.StartTLS()
	t.Cleanup(func() { p.secure.Close(); p.plain.Close(); p.connector.Close() })
	return p
}

// serverCert issues the stand-in gateway's server certificate from the Connector's CA, which is what the
// client trusts by default.
func serverCert(t *testing.T, caCert *x509.Certificate, caKeyPEM []byte) tls.Certificate {
	t.Helper()
	b, _ := pem.Decode(caKeyPEM)
	caKey, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(caCert.PublicKey.(*ecdsa.PublicKey).Curve, rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "gateway"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// gateway does what the real gateway does for /connector/graphql: it drops client-sent identity headers,
// passes the one-time token on untouched, turns a client certificate into an identity after asking the
// Connector whether it is revoked, and forwards to the Connector's /graphql.
type gateway struct {
	svc       *trust.Service
	kit       *assertiontest.Kit
	connector string
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/connector/graphql" {
		http.NotFound(w, r)
		return
	}
	identity.StripHeaders(r.Header)
	id := identity.Identity{ConnectorToken: r.Header.Get(connectorclient.TokenHeader)}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		c := r.TLS.PeerCertificates[0]
		serial := identity.SerialHex(c.SerialNumber)
		ask, _ := http.NewRequest(http.MethodGet, g.connector+"/certificates/"+serial+"/status", nil)
		ask.Header.Set(assertion.Header, sign(g.kit, identity.Identity{Subject: "gateway", ConsumerType: identity.ConsumerService}, "connector"))
		resp, err := http.DefaultClient.Do(ask)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		var st trust.Status
		_ = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if !st.Known || st.Revoked {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"UNAUTHENTICATED","message":"client certificate revoked or unknown"}}`))
			return
		}
		id.Tenant, id.Subject, id.CertSerial = c.Subject.Organization[0], c.Subject.CommonName, serial
		id.ConsumerType = c.Subject.OrganizationalUnit[0]
	}
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, g.connector+"/graphql", r.Body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(assertion.Header, sign(g.kit, id, "connector"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// requestToken asks the Connector's internal endpoint for a one-time token, as the Director does.
func (p *plane) requestToken(t *testing.T, tenant, id, typ string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"tenant": tenant, "consumerID": id, "consumerType": typ})
	req, _ := http.NewRequest(http.MethodPost, p.connector.URL+"/tokens", bytes.NewReader(body))
	req.Header.Set(assertion.Header, p.kit.Sign(t, identity.Identity{Tenant: tenant, Subject: "admin", ConsumerType: identity.ConsumerUser}, "connector"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.Token == "" {
		t.Fatalf("token: status %d, %v", resp.StatusCode, err)
	}
	return tok.Token
}

func TestPairSaveLoadRenew(t *testing.T) {
	ctx := context.Background()
	p := startPlane(t)
	client := connectorclient.New(p.plain.URL+"/connector/graphql", nil)

	cred, err := client.Pair(ctx, p.requestToken(t, "acme", "rt-1", identity.ConsumerRuntime))
	if err != nil {
		t.Fatal(err)
	}
	if cred.Tenant != "acme" || cred.ConsumerID != "rt-1" || cred.ConsumerType != "RUNTIME" {
		t.Fatalf("credentials for %s/%s/%s", cred.Tenant, cred.ConsumerType, cred.ConsumerID)
	}
	if d := time.Until(cred.NotAfter); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("NotAfter in %v", d)
	}

	dir := filepath.Join(t.TempDir(), "creds")
	if err := cred.Save(dir); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "key.pem"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key.pem: %v %v", st.Mode(), err)
	}
	loaded, err := connectorclient.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(loaded.KeyPEM, cred.KeyPEM) || !bytes.Equal(loaded.CertChainPEM, cred.CertChainPEM) ||
		!loaded.NotAfter.Equal(cred.NotAfter) || loaded.ConsumerID != cred.ConsumerID {
		t.Fatal("loaded credentials differ from the saved ones")
	}

	renewed, err := client.Renew(ctx, p.secure.URL+"/connector/graphql", loaded)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(renewed.KeyPEM, cred.KeyPEM) || bytes.Equal(renewed.CertChainPEM, cred.CertChainPEM) {
		t.Fatal("renewal kept the old key or certificate")
	}
	if renewed.Tenant != "acme" || renewed.ConsumerID != "rt-1" || renewed.ConsumerType != "RUNTIME" {
		t.Fatalf("renewed for %s/%s/%s", renewed.Tenant, renewed.ConsumerType, renewed.ConsumerID)
	}
	// The renewed certificate renews in turn.
	if _, err := client.Renew(ctx, p.secure.URL+"/connector/graphql", renewed); err != nil {
		t.Fatal(err)
	}
}

func TestTokenWorksOnce(t *testing.T) {
	ctx := context.Background()
	p := startPlane(t)
	client := connectorclient.New(p.plain.URL+"/connector/graphql", nil)
	tok := p.requestToken(t, "acme", "app-1", identity.ConsumerApplication)
	if _, err := client.Pair(ctx, tok); err != nil {
		t.Fatal(err)
	}
	_, err := client.Pair(ctx, tok)
	var cerr *connectorclient.Error
	if !errors.As(err, &cerr) || cerr.Code != "UNAUTHENTICATED" {
		t.Fatalf("second pairing: %v", err)
	}
}

func TestRevokedCertificateCannotRenew(t *testing.T) {
	ctx := context.Background()
	p := startPlane(t)
	secureURL := p.secure.URL + "/connector/graphql"
	client := connectorclient.New(p.plain.URL+"/connector/graphql", nil)
	cred, err := client.Pair(ctx, p.requestToken(t, "acme", "app-1", identity.ConsumerApplication))
	if err != nil {
		t.Fatal(err)
	}

	// revokeCertificate over mutual TLS, as a client would send it.
	cfg, err := cred.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := hc.Post(secureURL, "application/json", strings.NewReader(`{"query":"mutation { revokeCertificate }"}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(raw), `"revokeCertificate":true`) {
		t.Fatalf("revoke: %s", raw)
	}

	_, err = client.Renew(ctx, secureURL, cred)
	var cerr *connectorclient.Error
	if !errors.As(err, &cerr) || cerr.Code != "UNAUTHENTICATED" {
		t.Fatalf("renewal with a revoked certificate: %v", err)
	}
}

func TestLoadRefusesMismatchedFiles(t *testing.T) {
	ctx := context.Background()
	p := startPlane(t)
	client := connectorclient.New(p.plain.URL+"/connector/graphql", nil)
	a, err := client.Pair(ctx, p.requestToken(t, "acme", "app-1", identity.ConsumerApplication))
	if err != nil {
		t.Fatal(err)
	}
	b, err := client.Pair(ctx, p.requestToken(t, "acme", "app-2", identity.ConsumerApplication))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := connectorclient.Load(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("empty folder: %v", err)
	}
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), b.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := connectorclient.Load(dir); err == nil {
		t.Fatal("a key of other credentials was accepted")
	}
	if err := b.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), []byte(`{"tenant":"other","consumerID":"app-2","consumerType":"APPLICATION"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := connectorclient.Load(dir); err == nil {
		t.Fatal("meta.json contradicting the certificate was accepted")
	}
}

// sign signs as the gateway does; a failure to sign is a broken test setup.
func sign(kit *assertiontest.Kit, id identity.Identity, audience string) string {
	raw, err := kit.Signer.Sign(id, audience)
	if err != nil {
		panic(err)
	}
	return raw
}
