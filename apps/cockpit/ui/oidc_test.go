package ui

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// provider is an identity provider for the sign-in tests: discovery, an authorize endpoint that signs in
// "alice" at once, a token endpoint that checks the PKCE verifier, and its keys.
type provider struct {
	*httptest.Server
	key      *ecdsa.PrivateKey
	clientID string
	mu       sync.Mutex
	codes    map[string]url.Values // code -> the authorize request
	// nonce, when set, replaces the one the ID token carries.
	nonce string
}

func newProvider(t *testing.T, clientID string) *provider {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{key: key, clientID: clientID, codes: map[string]url.Values{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": p.URL, "authorization_endpoint": p.URL + "/authorize",
			"token_endpoint": p.URL + "/token", "jwks_uri": p.URL + "/jwks", "id_token_signing_alg_values_supported": []string{"ES256"}})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		p.mu.Lock()
		p.codes["code-1"] = q
		p.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code=code-1&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		auth, ok := p.codes[r.PostFormValue("code")]
		delete(p.codes, r.PostFormValue("code"))
		p.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
		if !ok || auth.Get("code_challenge_method") != "S256" || base64.RawURLEncoding.EncodeToString(sum[:]) != auth.Get("code_challenge") {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		nonce := auth.Get("nonce")
		if p.nonce != "" {
			nonce = p.nonce
		}
		now := time.Now()
		std := jwt.Claims{Issuer: p.URL, Subject: "alice", IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour))}
		idClaims := struct {
			jwt.Claims
			Nonce string `json:"nonce"`
		}{std, nonce}
		idClaims.Audience = jwt.Audience{p.clientID}
		access := struct {
			jwt.Claims
			Tenant string `json:"tenant"`
			Scope  string `json:"scope"`
		}{std, "t-idp", "application:read runtime:read"}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": p.sign(t, access), "id_token": p.sign(t, idClaims),
			"token_type": "Bearer", "expires_in": 3600})
	})
	p.Server = httptest.NewServer(mux)
	t.Cleanup(p.Close)
	return p
}

func (p *provider) sign(t *testing.T, claims any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: p.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signInWithProvider walks the browser's part of the flow: the Cockpit, the provider, back.
func signInWithProvider(t *testing.T, c *cockpit) *http.Response {
	t.Helper()
	resp, _ := c.get(t, Base+"/signin/oidc?next="+url.QueryEscape(Base+"/runtimes"))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("start: %d", resp.StatusCode)
	}
	at, err := c.client.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	at.Body.Close()
	back, err := url.Parse(at.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(back.String(), c.URL+Base+"/signin/callback") {
		t.Fatalf("the provider sent the browser to %q", at.Header.Get("Location"))
	}
	resp, _ = c.get(t, strings.TrimPrefix(back.String(), c.URL))
	return resp
}

func oidcCockpit(t *testing.T) (*cockpit, *provider) {
	t.Helper()
	c := newCockpit(t, false)
	p := newProvider(t, "cockpit")
	c.srv.OIDC = &OIDC{Issuer: p.URL, ClientID: "cockpit", RedirectURL: c.URL + Base + "/signin/callback", Bearer: "access_token"}
	return c, p
}

func TestSignInWithTheIdentityProvider(t *testing.T) {
	c, _ := oidcCockpit(t)
	_, page := c.get(t, Base+"/signin")
	if !strings.Contains(page, Base+"/signin/oidc") {
		t.Fatal("the sign-in page does not offer the identity provider")
	}
	resp := signInWithProvider(t, c)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != Base+"/runtimes" {
		t.Fatalf("callback answered %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page = c.get(t, Base+"/applications")
	if !strings.Contains(page, "Tenant <strong>t-idp</strong>") || strings.Contains(page, "Development sign-in") {
		t.Errorf("signed in as:\n%s", page)
	}
	// Read-only scopes from the token: writing is offered disabled.
	if !strings.Contains(page, `disabled aria-describedby="why-application:write"`) {
		t.Error("a read-only token's user may register applications on the page")
	}
	if tok := c.gw.tokens[len(c.gw.tokens)-1]; !strings.HasPrefix(tok, "Bearer ey") {
		t.Errorf("the gateway got %q", tok)
	}
}

func TestSignInCallbacksThatAreNotOursAreRefused(t *testing.T) {
	c, p := oidcCockpit(t)
	// A callback this browser did not start (a login CSRF): no state cookie.
	resp, body := c.get(t, Base+"/signin/callback?code=code-1&state=made-up")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not started in this browser") {
		t.Errorf("foreign callback: %d", resp.StatusCode)
	}
	// An ID token with another nonce (a replayed token).
	p.nonce = "someone else's"
	resp = signInWithProvider(t, c)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("wrong nonce: %d", resp.StatusCode)
	}
	if r, _ := c.get(t, Base+"/applications"); r.StatusCode != http.StatusSeeOther {
		t.Error("signed in despite the wrong nonce")
	}
	// The provider's own refusal is shown.
	if resp, body := c.get(t, Base+"/signin/callback?error=access_denied"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "access_denied") {
		t.Errorf("provider refusal: %d", resp.StatusCode)
	}
}
