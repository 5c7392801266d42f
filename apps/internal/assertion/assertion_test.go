package assertion_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion/assertiontest"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

var caller = identity.Identity{Tenant: "acme", Subject: "ann", ConsumerType: identity.ConsumerUser,
	Scopes: []string{"application:read"}, CertSerial: "ab12"}

func TestRoundTrip(t *testing.T) {
	kit := assertiontest.New(t)
	raw := kit.Sign(t, caller, "director", "connector")
	for _, aud := range []string{"director", "connector"} {
		c, err := kit.Verifier(aud).Verify(context.Background(), raw)
		if err != nil {
			t.Fatalf("%s: %v", aud, err)
		}
		got := c.Identity()
		if got.Tenant != "acme" || got.Subject != "ann" || got.ConsumerType != identity.ConsumerUser ||
			len(got.Scopes) != 1 || got.CertSerial != "ab12" {
			t.Fatalf("identity = %+v", got)
		}
		if c.ID == "" || c.Expiry.Time().Sub(c.IssuedAt.Time()) != 30*time.Second {
			t.Fatalf("claims: jti %q, lifetime %s", c.ID, c.Expiry.Time().Sub(c.IssuedAt.Time()))
		}
	}
}

func TestRefused(t *testing.T) {
	kit, other := assertiontest.New(t), assertiontest.New(t)
	good := kit.Sign(t, caller, "director")
	parts := strings.Split(good, ".")
	// Same header and signature, a payload naming another tenant.
	var payload map[string]any
	raw, _ := jwt.ParseSigned(good, []jose.SignatureAlgorithm{jose.ES256})
	_ = raw.UnsafeClaimsWithoutVerification(&payload)
	payload["tenant"] = "victim"
	tampered := parts[0] + "." + b64(t, payload) + "." + parts[2]

	old := &assertion.Verifier{Keys: kit.Keys, Audience: "director", Now: func() time.Time { return time.Now().Add(-time.Minute) }}
	late := &assertion.Verifier{Keys: kit.Keys, Audience: "director", Now: func() time.Time { return time.Now().Add(time.Minute) }}

	for name, tc := range map[string]struct {
		v    *assertion.Verifier
		raw  string
		want error
	}{
		"missing":          {kit.Verifier("director"), "", assertion.ErrMissing},
		"garbage":          {kit.Verifier("director"), "not-a-jwt", assertion.ErrMalformed},
		"other audience":   {kit.Verifier("governor"), good, assertion.ErrAudience},
		"expired":          {late, good, assertion.ErrExpired},
		"not yet valid":    {old, good, assertion.ErrExpired},
		"tampered payload": {kit.Verifier("director"), tampered, assertion.ErrSignature},
		"unknown key":      {kit.Verifier("director"), other.Sign(t, caller, "director"), assertion.ErrUnknownKey},
		"long-lived":       {kit.Verifier("director"), longLived(t, kit), assertion.ErrLifetime},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tc.v.Verify(context.Background(), tc.raw)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// longLived is signed with the kit's key but lives ten minutes.
func longLived(t *testing.T, kit *assertiontest.Kit) string {
	t.Helper()
	s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: kit.Key}, nil)
	now := time.Now()
	raw, err := jwt.Signed(s).Claims(assertion.Claims{Claims: jwt.Claims{Issuer: assertion.Issuer, ID: "x",
		Audience: jwt.Audience{"director"}, IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute))}}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func b64(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

func TestSignerRefusesLongLifetimes(t *testing.T) {
	key, _ := assertion.GenerateKey()
	if _, err := assertion.NewSigner(key, 2*time.Minute); err == nil {
		t.Fatal("a two-minute lifetime was accepted")
	}
	pub := key.Public()
	if _, err := assertion.NewSigner(&pub, time.Second); err == nil {
		t.Fatal("a public key was accepted for signing")
	}
}

func TestMiddleware(t *testing.T) {
	kit := assertiontest.New(t)
	var seen identity.Identity
	var propagated http.Header
	h := kit.Middleware("director")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = identity.FromContext(r.Context())
		propagated = http.Header{}
		assertion.Propagate(r.Context(), propagated)
	}))

	// Identity headers alone are ignored: the request is refused before the handler runs.
	req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
	req.Header.Set("X-Mp-Tenant", "acme")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body struct {
		Error struct{ Code, Message string }
	}
	if rec.Code != http.StatusUnauthorized || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error.Code != "UNAUTHENTICATED" {
		t.Fatalf("no assertion: %d %s", rec.Code, rec.Body)
	}
	if seen.Tenant != "" {
		t.Fatal("handler ran without an assertion")
	}

	raw := kit.Sign(t, caller, "director", "connector")
	req = httptest.NewRequest(http.MethodPost, "/graphql", nil)
	req.Header.Set(assertion.Header, raw)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || seen.Tenant != "acme" {
		t.Fatalf("valid assertion: %d, identity %+v", rec.Code, seen)
	}
	if propagated.Get(assertion.Header) != raw {
		t.Fatal("the assertion was not passed on")
	}
}

// failingGetter is a secret store that is down.
type failingGetter struct{ calls int }

func (f *failingGetter) GetSecret(context.Context, string, string, map[string]string) (map[string]string, error) {
	f.calls++
	return nil, errors.New("connection refused")
}

func TestKeysUnavailableIs503(t *testing.T) {
	kit := assertiontest.New(t)
	v := &assertion.Verifier{Keys: &assertion.SecretKeys{Getter: &failingGetter{}, Store: "secretstore"}, Audience: "director"}
	h := assertion.Middleware(v, discard())(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Fatal("handler ran")
	}))
	req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
	req.Header.Set(assertion.Header, kit.Sign(t, caller, "director"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "refused") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// fileGetter reads a local secrets file the way secretstores.local.file with nestedSeparator ":" does.
type fileGetter struct {
	path  string
	reads int
}

func (f *fileGetter) GetSecret(_ context.Context, _, key string, _ map[string]string) (map[string]string, error) {
	f.reads++
	raw, err := os.ReadFile(f.path)
	if err != nil {
		return nil, err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	name, field, _ := strings.Cut(key, ":")
	var values map[string]string
	if json.Unmarshal(doc[name], &values) == nil {
		if v, ok := values[field]; ok {
			return map[string]string{key: v}, nil
		}
	}
	return nil, errors.New("secret " + key + " not found")
}

func TestLocalKeysRotate(t *testing.T) {
	dir := t.TempDir()
	file, gwFile := filepath.Join(dir, "secrets.json"), filepath.Join(dir, "gateway-secrets.json")
	if err := os.WriteFile(file, []byte(`{"governor-encryption-key": "k"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := assertion.EnsureLocal(file, gwFile, false); err != nil {
		t.Fatal(err)
	}
	if doc, _ := os.ReadFile(file); strings.Contains(string(doc), assertion.SigningKeySecret) {
		t.Fatal("the signing key is in the file every app reads")
	}
	g := &fileGetter{path: file}
	gw := &fileGetter{path: gwFile}
	sign := func() string {
		key, err := assertion.ReadSigningKey(context.Background(), gw, "gatewaysecrets")
		if err != nil {
			t.Fatal(err)
		}
		s, err := assertion.NewSigner(key, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := s.Sign(caller, "director")
		return raw
	}
	first := sign()
	keys := &assertion.SecretKeys{Getter: g, Store: "secretstore", MinRefresh: time.Nanosecond}
	v := &assertion.Verifier{Keys: keys, Audience: "director"}
	if _, err := v.Verify(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	// A second EnsureLocal keeps the key; a rotation adds one and keeps the old public key.
	before, _ := os.ReadFile(gwFile)
	if err := assertion.EnsureLocal(file, gwFile, false); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(gwFile); string(after) != string(before) {
		t.Fatal("EnsureLocal replaced an existing key")
	}
	if err := assertion.EnsureLocal(file, gwFile, true); err != nil {
		t.Fatal(err)
	}
	second := sign()
	for name, raw := range map[string]string{"new key": second, "old key": first} {
		if _, err := v.Verify(context.Background(), raw); err != nil {
			t.Fatalf("%s after rotation: %v", name, err)
		}
	}
	if doc, _ := os.ReadFile(file); !strings.Contains(string(doc), `"governor-encryption-key": "k"`) {
		t.Fatalf("other secrets lost: %s", doc)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
