package trust

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

// How FuzzSignCSR hands its bytes to the service.
const (
	wrapBase64PEM = iota // base64(PEM(der)): the API's format
	wrapNone             // the bytes are the csr argument itself: exercises base64 and PEM decoding
	wrapBase64           // base64(der) without PEM
	wrapModes
)

func wrapCSR(data []byte, mode uint8) string {
	switch mode % wrapModes {
	case wrapBase64PEM:
		return encodeCSR(data)
	case wrapBase64:
		return base64.StdEncoding.EncodeToString(data)
	default:
		return string(data)
	}
}

// FuzzSignCSR feeds arbitrary CSRs to SignCSR with a valid one-time token. It must never panic, never fail
// with an internal error, and never sign unless the CSR asks for exactly the token owner's subject.
func FuzzSignCSR(f *testing.F) {
	key := clientKey()
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	good := csrDER(f, key, appOwner.Subject())
	f.Add(good, uint8(wrapBase64PEM))
	f.Add(csrDER(f, p384, appOwner.Subject()), uint8(wrapBase64PEM))
	f.Add(good, uint8(wrapBase64))
	f.Add([]byte(encodeCSR(good)), uint8(wrapNone))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: good}), uint8(wrapNone))
	for _, n := range []pkix.Name{
		rtOwner.Subject(),
		{CommonName: "app-1", OrganizationalUnit: []string{"APPLICATION"}, Organization: []string{"t2"}},
		{CommonName: "app-1", OrganizationalUnit: []string{"APPLICATION"}, Organization: []string{"t1"}, Country: []string{"DE"}},
		{CommonName: "app-1", OrganizationalUnit: []string{"APPLICATION", "APPLICATION"}, Organization: []string{"t1"}},
		{CommonName: "app-1", Organization: []string{"t1"}},
		{CommonName: "app-1 ", OrganizationalUnit: []string{"APPLICATION"}, Organization: []string{"t1"}},
		{},
	} {
		f.Add(csrDER(f, key, n), uint8(wrapBase64PEM))
	}
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)-3] ^= 0x01
	f.Add(tampered, uint8(wrapBase64PEM))
	f.Add([]byte{}, uint8(wrapNone))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n"), uint8(wrapNone))
	f.Add([]byte{0x30, 0x82, 0xff, 0xff}, uint8(wrapBase64PEM))

	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		fx := newFixture(t) // a fresh store each time keeps long runs from growing
		tok, err := fx.svc.IssueToken(ctx, appOwner)
		if err != nil {
			t.Fatal(err)
		}
		csr := wrapCSR(data, mode)
		res, err := fx.svc.SignCSR(ctx, tokenID(tok.Token), csr)
		if err != nil {
			if c := apperr.CodeOf(err); c != apperr.CodeInvalidInput && c != apperr.CodeForbidden {
				t.Fatalf("refusal with code %s: %v", c, err)
			}
			return
		}
		// Signed: the request must have asked for exactly the owner's subject, with a valid signature.
		req := decodeCSROrFail(t, csr)
		if err := req.CheckSignature(); err != nil {
			t.Fatalf("signed a CSR whose signature does not verify: %v", err)
		}
		if !sameSubject(req.Subject, appOwner.Subject()) {
			t.Fatalf("signed a CSR for %q, owner is %q", req.Subject, appOwner.Subject())
		}
		c := leaf(t, res)
		if c.Subject.String() != appOwner.Subject().String() || !bytes.Equal(marshalPub(t, c.PublicKey), marshalPub(t, req.PublicKey)) {
			t.Fatalf("certificate for %s does not match the request", c.Subject)
		}
		// And the token is used up.
		if _, err := fx.svc.SignCSR(ctx, tokenID(tok.Token), csr); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("second use of the token: %v", err)
		}
	})
}

func decodeCSROrFail(t *testing.T, csr string) *x509.CertificateRequest {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(csr))
	if err != nil {
		t.Fatalf("signed a CSR that is not base64: %v", err)
	}
	b, _ := pem.Decode(raw)
	if b == nil {
		t.Fatal("signed a CSR without PEM")
	}
	req, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		t.Fatalf("signed a CSR that does not parse: %v", err)
	}
	return req
}

// sameSubject compares two names attribute by attribute, independently of checkSubject.
func sameSubject(a, b pkix.Name) bool {
	count := func(n pkix.Name) map[string]int {
		m := map[string]int{}
		for _, atv := range n.Names {
			s, ok := atv.Value.(string)
			if !ok {
				s = "\x00non-string"
			}
			m[atv.Type.String()+"="+s]++
		}
		return m
	}
	if len(a.Names) != len(b.ToRDNSequence()) {
		return false
	}
	var bb pkix.Name
	bb.FillFromRDNSequence(ptr(b.ToRDNSequence()))
	ca, cb := count(a), count(bb)
	if len(ca) != len(cb) {
		return false
	}
	for k, v := range ca {
		if cb[k] != v {
			return false
		}
	}
	return true
}

func ptr[T any](v T) *T { return &v }

func marshalPub(t *testing.T, pub any) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// How FuzzToken builds the token it presents from the fuzzer's string.
const (
	tokAsIs    = iota // the string itself
	tokSuffix         // the real token followed by the string
	tokOverlay        // the real token with its start replaced by the string
	tokReal           // the real token (must work exactly once)
	tokModes
)

// FuzzToken presents arbitrary tokens. It must never panic, accept nothing but the real token, and leave
// the real token usable after any wrong one.
func FuzzToken(f *testing.F) {
	f.Add("", uint8(tokAsIs))
	f.Add("x", uint8(tokAsIs))
	f.Add(strings.Repeat("A", tokenLen), uint8(tokAsIs))
	f.Add(strings.Repeat("_", tokenLen), uint8(tokAsIs))
	f.Add(strings.Repeat("=", tokenLen), uint8(tokAsIs))
	f.Add(strings.Repeat("+/", tokenLen/2)+"+", uint8(tokAsIs))
	f.Add("../../etc/passwd", uint8(tokAsIs))
	f.Add("\n", uint8(tokSuffix))
	f.Add("=", uint8(tokSuffix))
	f.Add("", uint8(tokOverlay))
	f.Add("B", uint8(tokOverlay))
	f.Add("", uint8(tokReal))

	f.Fuzz(func(t *testing.T, s string, mode uint8) {
		fx := newFixture(t)
		real, err := fx.svc.IssueToken(ctx, appOwner)
		if err != nil {
			t.Fatal(err)
		}
		var presented string
		switch mode % tokModes {
		case tokAsIs:
			presented = s
		case tokSuffix:
			presented = real.Token + s
		case tokOverlay:
			if len(s) > len(real.Token) {
				s = s[:len(real.Token)]
			}
			presented = s + real.Token[len(s):]
		case tokReal:
			presented = real.Token
		}

		// The key derivation is canonical: only the real token maps to the real token's key.
		if k, err := tokenKey(presented); err == nil {
			rk, _ := tokenKey(real.Token)
			if (k == rk) != (presented == real.Token) {
				t.Fatalf("%q and the real token share a key: %v", presented, k == rk)
			}
		}

		_, err = fx.svc.Configuration(ctx, tokenID(presented))
		if presented == real.Token {
			if err != nil {
				t.Fatalf("real token refused: %v", err)
			}
			if _, err := fx.svc.Configuration(ctx, tokenID(presented)); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("real token accepted twice: %v", err)
			}
			return
		}
		if apperr.CodeOf(err) != apperr.CodeUnauthenticated {
			t.Fatalf("token %q: err = %v, want UNAUTHENTICATED", presented, err)
		}
		if _, err := fx.svc.Configuration(ctx, tokenID(real.Token)); err != nil {
			t.Fatalf("a wrong token spoiled the real one: %v", err)
		}
	})
}
