package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/connector/ca"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var (
	testCAOnce sync.Once
	testCA     *ca.Authority
)

// authority returns one CA for the whole test binary: generating keys is the slow part.
func authority(t testing.TB) *ca.Authority {
	testCAOnce.Do(func() {
		cert, key, err := ca.Generate(time.Now())
		if err != nil {
			panic(err)
		}
		if testCA, err = ca.New(cert, key); err != nil {
			panic(err)
		}
	})
	return testCA
}

var testConfig = Config{
	CertValidity:        90 * 24 * time.Hour,
	TokenTTLApplication: 5 * time.Minute,
	TokenTTLRuntime:     60 * time.Minute,
	ConnectorURL:        "http://gw/connector/graphql",
	DirectorURL:         "https://gw/director/graphql",
	SecureConnectorURL:  "https://gw/connector/graphql",
}

type fixture struct {
	svc   *Service
	store *memstate.Store
	clock *clock
}

func newFixture(t testing.TB) *fixture {
	store := memstate.New()
	c := &clock{t: time.Now()}
	return &fixture{svc: NewService(quiet, registry.New(store, "connectorstore"), authority(t), testConfig, c.Now), store: store, clock: c}
}

var (
	appOwner = Owner{Tenant: "t1", ConsumerID: "app-1", ConsumerType: "APPLICATION"}
	rtOwner  = Owner{Tenant: "t1", ConsumerID: "rt-1", ConsumerType: "RUNTIME"}
)

var (
	keyOnce sync.Once
	testKey *ecdsa.PrivateKey
)

func clientKey() *ecdsa.PrivateKey {
	keyOnce.Do(func() { testKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader) })
	return testKey
}

// csrDER returns a CSR for subject signed by key.
func csrDER(t testing.TB, key crypto.Signer, subject pkix.Name) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// encodeCSR wraps a DER CSR the way the API wants it: base64 of PEM.
func encodeCSR(der []byte) string {
	return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func csrFor(t testing.TB, o Owner) string { return encodeCSR(csrDER(t, clientKey(), o.Subject())) }

// leaf decodes the client certificate of a result.
func leaf(t testing.TB, res *CertificationResult) *x509.Certificate {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(res.ClientCertificate)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(raw)
	if b == nil {
		t.Fatal("client certificate: no PEM")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
