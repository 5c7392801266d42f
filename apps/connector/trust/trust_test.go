package trust

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

var ctx = context.Background()

func tokenID(tok string) identity.Identity { return identity.Identity{ConnectorToken: tok} }

func certID(o Owner, serial string) identity.Identity {
	return identity.Identity{Tenant: o.Tenant, Subject: o.ConsumerID, ConsumerType: o.ConsumerType, CertSerial: serial}
}

func wantCode(t *testing.T, err error, code apperr.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	if got := apperr.CodeOf(err); got != code {
		t.Fatalf("code %s (%v), want %s", got, err, code)
	}
}

func issue(t *testing.T, f *fixture, o Owner) string {
	t.Helper()
	tok, err := f.svc.IssueToken(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

func TestIssueTokenTTLByConsumerTypeAndValidation(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		o   Owner
		ttl time.Duration
	}{{appOwner, 5 * time.Minute}, {rtOwner, time.Hour}} {
		tok, err := f.svc.IssueToken(ctx, tc.o)
		if err != nil {
			t.Fatal(err)
		}
		if got := tok.ExpiresAt.Sub(f.clock.Now()); got < tc.ttl-time.Second || got > tc.ttl+time.Second {
			t.Errorf("%s token lives %v, want %v", tc.o.ConsumerType, got, tc.ttl)
		}
		if len(tok.Token) != tokenLen || tok.ConnectorURL != testConfig.ConnectorURL {
			t.Errorf("token %+v", tok)
		}
	}
	for _, bad := range []Owner{
		{Tenant: "", ConsumerID: "a", ConsumerType: "APPLICATION"},
		{Tenant: "t1", ConsumerID: "a,b", ConsumerType: "APPLICATION"},
		{Tenant: "t1", ConsumerID: "a", ConsumerType: "USER"},
		{Tenant: "t/1", ConsumerID: "a", ConsumerType: "RUNTIME"},
	} {
		_, err := f.svc.IssueToken(ctx, bad)
		wantCode(t, err, apperr.CodeInvalidInput)
	}
}

func TestPairingIssuesAVerifiableClientCertificate(t *testing.T) {
	f := newFixture(t)
	conf, err := f.svc.Configuration(ctx, tokenID(issue(t, f, appOwner)))
	if err != nil {
		t.Fatal(err)
	}
	if conf.CertificateSigningRequestInfo.Subject != "CN=app-1,OU=APPLICATION,O=t1" {
		t.Fatalf("subject %q", conf.CertificateSigningRequestInfo.Subject)
	}
	if conf.ManagementPlaneInfo.DirectorURL != testConfig.DirectorURL {
		t.Fatalf("management plane info %+v", conf.ManagementPlaneInfo)
	}
	res, err := f.svc.SignCSR(ctx, tokenID(conf.Token.Token), csrFor(t, appOwner))
	if err != nil {
		t.Fatal(err)
	}

	c := leaf(t, res)
	if _, err := c.Verify(x509.VerifyOptions{Roots: f.svc.ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("client certificate does not verify against the CA: %v", err)
	}
	if c.Subject.String() != conf.CertificateSigningRequestInfo.Subject {
		t.Fatalf("certificate subject %s", c.Subject)
	}
	if d := c.NotAfter.Sub(f.clock.Now()); d < testConfig.CertValidity-time.Minute || d > testConfig.CertValidity+time.Minute {
		t.Fatalf("validity %v", d)
	}
	if c.SerialNumber.BitLen() < 100 {
		t.Fatalf("serial %s is not random enough", c.SerialNumber)
	}

	// The chain is the client certificate followed by the CA.
	raw, _ := base64.StdEncoding.DecodeString(res.CertificateChain)
	var chain []*x509.Certificate
	for b, rest := pem.Decode(raw); b != nil; b, rest = pem.Decode(rest) {
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, cert)
	}
	if len(chain) != 2 || !chain[0].Equal(c) || !chain[1].Equal(f.svc.ca.Certificate()) {
		t.Fatalf("chain has %d certificates in the wrong order", len(chain))
	}

	st, err := f.svc.Status(ctx, identity.SerialHex(c.SerialNumber))
	if err != nil || !st.Known || st.Revoked {
		t.Fatalf("status %+v %v", st, err)
	}

	// Both tokens are used up.
	_, err = f.svc.SignCSR(ctx, tokenID(conf.Token.Token), csrFor(t, appOwner))
	wantCode(t, err, apperr.CodeUnauthenticated)
}

func TestConcurrentUsesOfATokenExactlyOneWins(t *testing.T) {
	for _, op := range []string{"configuration", "sign"} {
		t.Run(op, func(t *testing.T) {
			f := newFixture(t)
			tok := issue(t, f, rtOwner)
			csr := csrFor(t, rtOwner)
			// Replicas of the Connector: separate registries over one store, so only ETags keep them apart.
			replicas := []*Service{f.svc}
			for range 3 {
				replicas = append(replicas, NewService(quiet, registry.New(f.store, "connectorstore"), f.svc.ca, testConfig, f.clock.Now))
			}
			const n = 16
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				ok, bad int
			)
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					svc := replicas[i%len(replicas)]
					var err error
					if op == "sign" {
						_, err = svc.SignCSR(ctx, tokenID(tok), csr)
					} else {
						_, err = svc.Configuration(ctx, tokenID(tok))
					}
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok++
					case errors.Is(err, ErrInvalidToken):
						bad++
					default:
						t.Errorf("unexpected error: %v", err)
					}
				}()
			}
			close(start)
			wg.Wait()
			if ok != 1 || bad != n-1 {
				t.Fatalf("%d uses succeeded and %d failed, want 1 and %d", ok, bad, n-1)
			}
		})
	}
}

func TestExpiredTokenIsRefused(t *testing.T) {
	f := newFixture(t)
	appTok := issue(t, f, appOwner)
	rtTok := issue(t, f, rtOwner)
	csrTok := issue(t, f, appOwner)
	f.clock.Add(5*time.Minute + time.Second)

	_, err := f.svc.Configuration(ctx, tokenID(appTok))
	wantCode(t, err, apperr.CodeUnauthenticated)
	_, err = f.svc.SignCSR(ctx, tokenID(csrTok), csrFor(t, appOwner))
	wantCode(t, err, apperr.CodeUnauthenticated)
	// A runtime's token lives an hour.
	if _, err := f.svc.Configuration(ctx, tokenID(rtTok)); err != nil {
		t.Fatalf("runtime token expired early: %v", err)
	}
	// The expired token was deleted when it was presented.
	key, _ := tokenKey(appTok)
	if err := f.svc.store.Get(ctx, tokenScope, key, &tokenRecord{}); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("expired token still stored: %v", err)
	}
}

func TestCSRRefusals(t *testing.T) {
	f := newFixture(t)
	key := clientKey()
	der := csrDER(t, key, appOwner.Subject())
	tampered := append([]byte(nil), der...)
	tampered[len(tampered)-1] ^= 0xff
	other := func(mod func(*pkix.Name)) string {
		n := appOwner.Subject()
		mod(&n)
		return encodeCSR(csrDER(t, key, n))
	}
	rsaTiny, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)

	for _, tc := range []struct {
		name string
		csr  string
		code apperr.Code
	}{
		{"empty", "", apperr.CodeInvalidInput},
		{"not base64", "%%%", apperr.CodeInvalidInput},
		{"base64 of garbage", base64.StdEncoding.EncodeToString([]byte("hello")), apperr.CodeInvalidInput},
		{"raw PEM", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), apperr.CodeInvalidInput},
		{"wrong PEM type", base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), apperr.CodeInvalidInput},
		{"bad DER", encodeCSR(der[:len(der)/2]), apperr.CodeInvalidInput},
		{"bad signature", encodeCSR(tampered), apperr.CodeInvalidInput},
		{"weak curve", encodeCSR(csrDER(t, rsaTiny, appOwner.Subject())), apperr.CodeInvalidInput},
		{"other consumer", other(func(n *pkix.Name) { n.CommonName = "app-2" }), apperr.CodeForbidden},
		{"other tenant", other(func(n *pkix.Name) { n.Organization = []string{"t2"} }), apperr.CodeForbidden},
		{"other type", other(func(n *pkix.Name) { n.OrganizationalUnit = []string{"RUNTIME"} }), apperr.CodeForbidden},
		{"extra attribute", other(func(n *pkix.Name) { n.Country = []string{"DE"} }), apperr.CodeForbidden},
		{"repeated OU", other(func(n *pkix.Name) { n.OrganizationalUnit = []string{"APPLICATION", "RUNTIME"} }), apperr.CodeForbidden},
		{"missing O", other(func(n *pkix.Name) { n.Organization = nil }), apperr.CodeForbidden},
		{"extra name", other(func(n *pkix.Name) {
			n.ExtraNames = []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{2, 5, 4, 5}, Value: "1"}}
		}), apperr.CodeForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := issue(t, f, appOwner)
			before := f.store.Len()
			_, err := f.svc.SignCSR(ctx, tokenID(tok), tc.csr)
			wantCode(t, err, tc.code)
			if f.store.Len() != before {
				t.Fatal("a refused CSR changed the store")
			}
			// The token was not used up by the refusal.
			if _, err := f.svc.SignCSR(ctx, tokenID(tok), csrFor(t, appOwner)); err != nil {
				t.Fatalf("token unusable after a refused CSR: %v", err)
			}
		})
	}
}

func TestCSRInAnyAttributeOrderIsAccepted(t *testing.T) {
	f := newFixture(t)
	// openssl req -subj "/O=t1/OU=APPLICATION/CN=app-1" writes the attributes in this order.
	seq := pkix.RDNSequence{
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "t1"}},
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 11}, Value: "APPLICATION"}},
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "app-1"}},
	}
	raw, _ := asn1.Marshal(seq)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{RawSubject: raw}, clientKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SignCSR(ctx, tokenID(issue(t, f, appOwner)), encodeCSR(der)); err != nil {
		t.Fatal(err)
	}
}

func TestRenewalAndRevocationWithCertificateIdentity(t *testing.T) {
	f := newFixture(t)
	res, err := f.svc.SignCSR(ctx, tokenID(issue(t, f, rtOwner)), csrFor(t, rtOwner))
	if err != nil {
		t.Fatal(err)
	}
	serial := identity.SerialHex(leaf(t, res).SerialNumber)
	me := certID(rtOwner, serial)

	// Renewal: configuration and a new certificate with the current one.
	conf, err := f.svc.Configuration(ctx, me)
	if err != nil || conf.Token == nil || conf.CertificateSigningRequestInfo.Subject != "CN=rt-1,OU=RUNTIME,O=t1" {
		t.Fatalf("configuration with a certificate: %+v %v", conf, err)
	}
	renewed, err := f.svc.SignCSR(ctx, me, csrFor(t, rtOwner))
	if err != nil {
		t.Fatal(err)
	}
	newSerial := identity.SerialHex(leaf(t, renewed).SerialNumber)
	if newSerial == serial {
		t.Fatal("renewal reused the serial")
	}
	// Renewal cannot change the subject.
	_, err = f.svc.SignCSR(ctx, me, csrFor(t, Owner{Tenant: "t1", ConsumerID: "rt-2", ConsumerType: "RUNTIME"}))
	wantCode(t, err, apperr.CodeForbidden)

	// Someone presenting another owner's serial gets nothing.
	_, err = f.svc.SignCSR(ctx, certID(Owner{Tenant: "t1", ConsumerID: "rt-2", ConsumerType: "RUNTIME"}, serial), csrFor(t, rtOwner))
	wantCode(t, err, apperr.CodeForbidden)
	_, err = f.svc.SignCSR(ctx, certID(rtOwner, "abc123"), csrFor(t, rtOwner))
	wantCode(t, err, apperr.CodeForbidden)
	// Not a certificate identity at all.
	_, err = f.svc.SignCSR(ctx, identity.Identity{Tenant: "t1", Subject: "rt-1", ConsumerType: "RUNTIME"}, csrFor(t, rtOwner))
	wantCode(t, err, apperr.CodeUnauthenticated)
	_, err = f.svc.Configuration(ctx, identity.Identity{Tenant: "t1", Subject: "alice", ConsumerType: "USER", CertSerial: serial})
	wantCode(t, err, apperr.CodeUnauthenticated)

	// Revocation takes the certificate out of use; the renewed one stays valid.
	if err := f.svc.Revoke(ctx, me); err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]Status{serial: {Known: true, Revoked: true}, newSerial: {Known: true}, "ffff": {}} {
		if st, err := f.svc.Status(ctx, s); err != nil || st != want {
			t.Errorf("status of %s = %+v %v, want %+v", s, st, err, want)
		}
	}
	// Serials are accepted in the usual spellings.
	if st, _ := f.svc.Status(ctx, "00:"+serial[:2]+":"+serial[2:]); !st.Revoked {
		t.Error("serial with separators and a leading zero not recognised")
	}
	_, err = f.svc.SignCSR(ctx, me, csrFor(t, rtOwner))
	wantCode(t, err, apperr.CodeForbidden)
	wantCode(t, f.svc.Revoke(ctx, me), apperr.CodeForbidden)
	_, err = f.svc.Status(ctx, "not hex")
	wantCode(t, err, apperr.CodeInvalidInput)

	// An expired certificate cannot renew itself.
	next := certID(rtOwner, newSerial)
	f.clock.Add(testConfig.CertValidity + time.Hour)
	_, err = f.svc.Configuration(ctx, next)
	wantCode(t, err, apperr.CodeForbidden)
}

func TestRevokeOwnerRevokesEveryCertificateOfTheOwnerOnly(t *testing.T) {
	f := newFixture(t)
	other := Owner{Tenant: "t1", ConsumerID: "rt-2", ConsumerType: "RUNTIME"}
	var mine []string
	for range 2 {
		res, err := f.svc.SignCSR(ctx, tokenID(issue(t, f, rtOwner)), csrFor(t, rtOwner))
		if err != nil {
			t.Fatal(err)
		}
		mine = append(mine, identity.SerialHex(leaf(t, res).SerialNumber))
	}
	res, err := f.svc.SignCSR(ctx, tokenID(issue(t, f, other)), csrFor(t, other))
	if err != nil {
		t.Fatal(err)
	}
	theirs := identity.SerialHex(leaf(t, res).SerialNumber)

	if n, err := f.svc.RevokeOwner(ctx, rtOwner); err != nil || n != 2 {
		t.Fatalf("revoked %d (%v), want 2", n, err)
	}
	for _, s := range mine {
		if st, _ := f.svc.Status(ctx, s); !st.Revoked {
			t.Errorf("certificate %s of the owner not revoked", s)
		}
	}
	if st, _ := f.svc.Status(ctx, theirs); st.Revoked {
		t.Error("another owner's certificate was revoked")
	}
	if n, _ := f.svc.RevokeOwner(ctx, rtOwner); n != 0 {
		t.Errorf("a second call revoked %d again", n)
	}
}
