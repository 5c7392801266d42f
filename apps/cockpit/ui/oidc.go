package ui

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/mgmtplane/mgmtplane/apps/cockpit/plane"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/session"
)

// OIDC signs users in with the identity provider the gateway trusts: the authorization code flow with
// PKCE, the state bound to the browser by a cookie and the ID token's nonce checked. The token the
// Cockpit then sends to the gateway on the user's behalf is the one the gateway verifies (Bearer); the
// Cockpit reads its claims only to say who is signed in and which actions to offer.
type OIDC struct {
	Issuer, ClientID, ClientSecret string
	// RedirectURL is this Cockpit's callback as the browser reaches it: <public gateway URL>/cockpit/signin/callback.
	RedirectURL string
	Scopes      []string
	// Bearer names the token sent to the gateway: "access_token" (the default) or "id_token".
	Bearer string

	mu       sync.Mutex
	provider *oidc.Provider
}

// pendingTTL is how long a sign-in may take at the identity provider.
const pendingTTL = 10 * time.Minute

// signinCookie binds a sign-in in progress to the browser that started it.
const signinCookie = "cockpit_signin"

// pending is what the Cockpit keeps between sending the browser to the provider and its return.
type pending struct {
	Verifier string `json:"verifier"`
	Nonce    string `json:"nonce"`
	Next     string `json:"next"`
}

// discover finds the provider's endpoints once, on first use, so that the Cockpit starts while its
// provider is away and signs people in once it is back.
func (o *OIDC) discover(ctx context.Context) (*oidc.Provider, *oauth2.Config, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider == nil {
		p, err := oidc.NewProvider(ctx, o.Issuer)
		if err != nil {
			return nil, nil, fmt.Errorf("discover the identity provider %s: %w", o.Issuer, err)
		}
		o.provider = p
	}
	scopes := append([]string{oidc.ScopeOpenID}, o.Scopes...)
	return o.provider, &oauth2.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: o.RedirectURL,
		Endpoint: o.provider.Endpoint(), Scopes: scopes}, nil
}

func pendingKey(state string) string {
	sum := sha256.Sum256([]byte(state))
	return "signin-" + hex.EncodeToString(sum[:])
}

func randomString() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// oidcStart sends the browser to the identity provider.
func (s *server) oidcStart(w http.ResponseWriter, r *http.Request) {
	if s.OIDC == nil {
		s.fail(w, r, http.StatusNotFound, &plane.Error{Code: "NOT_FOUND", Message: "No identity provider is configured for the Cockpit."})
		return
	}
	_, cfg, err := s.OIDC.discover(r.Context())
	if err != nil {
		s.Log.ErrorContext(r.Context(), "identity provider", "err", err)
		s.fail(w, r, http.StatusBadGateway, &plane.Error{Code: "UNAVAILABLE", Message: "The identity provider cannot be reached now; try again shortly."})
		return
	}
	state, err1 := randomString()
	nonce, err2 := randomString()
	if err := errors.Join(err1, err2); err != nil {
		s.fail(w, r, http.StatusInternalServerError, &plane.Error{Code: "INTERNAL", Message: "Sign-in cannot start now."})
		return
	}
	p := pending{Verifier: oauth2.GenerateVerifier(), Nonce: nonce, Next: safeNext(r.URL.Query().Get("next"))}
	raw, _ := json.Marshal(p)
	if err := s.Sessions.Store.Save(r.Context(), pendingKey(state), raw, pendingTTL); err != nil {
		s.Log.ErrorContext(r.Context(), "save sign-in", "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, &plane.Error{Code: "UNAVAILABLE", Message: "Sessions cannot be stored now; try again shortly."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: signinCookie, Value: state, Path: Base + "/signin/", HttpOnly: true,
		Secure: s.Sessions.Secure, SameSite: http.SameSiteLaxMode, MaxAge: int(pendingTTL.Seconds())})
	http.Redirect(w, r, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(p.Verifier), oidc.Nonce(nonce)), http.StatusFound)
}

// oidcCallback finishes a sign-in: the state must be the one this browser started with, the code is
// exchanged with the PKCE verifier, and the ID token must carry the nonce.
func (s *server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	if s.OIDC == nil {
		s.fail(w, r, http.StatusNotFound, &plane.Error{Code: "NOT_FOUND", Message: "No identity provider is configured for the Cockpit."})
		return
	}
	q := r.URL.Query()
	refuse := func(msg string) {
		s.render(w, r, http.StatusBadRequest, "signin", &view{Title: "Sign in", Data: signinView{Next: Base + "/", Dev: s.DevKey != nil, OIDC: true},
			Err: &plane.Error{Code: "UNAUTHENTICATED", Message: msg, RequestID: requestID(r)}})
	}
	if e := q.Get("error"); e != "" {
		refuse("The identity provider refused the sign-in: " + e + " " + q.Get("error_description"))
		return
	}
	c, err := r.Cookie(signinCookie)
	state := q.Get("state")
	if err != nil || state == "" || c.Value != state {
		refuse("This sign-in was not started in this browser, or took too long; sign in again.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: signinCookie, Value: "", Path: Base + "/signin/", MaxAge: -1, HttpOnly: true, Secure: s.Sessions.Secure})
	raw, err := s.Sessions.Store.Get(r.Context(), pendingKey(state))
	// Used once: a replayed callback finds nothing.
	_ = s.Sessions.Store.Delete(r.Context(), pendingKey(state))
	var p pending
	if err != nil || len(raw) == 0 || json.Unmarshal(raw, &p) != nil {
		refuse("This sign-in was not started in this browser, or took too long; sign in again.")
		return
	}
	provider, cfg, err := s.OIDC.discover(r.Context())
	if err != nil {
		s.Log.ErrorContext(r.Context(), "identity provider", "err", err)
		s.fail(w, r, http.StatusBadGateway, &plane.Error{Code: "UNAVAILABLE", Message: "The identity provider cannot be reached now; try again shortly."})
		return
	}
	tok, err := cfg.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(p.Verifier))
	if err != nil {
		s.Log.WarnContext(r.Context(), "exchange the authorization code", "err", err)
		refuse("The identity provider did not accept the sign-in; sign in again.")
		return
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: s.OIDC.ClientID}).Verify(r.Context(), rawID)
	if err != nil || idt.Nonce != p.Nonce {
		s.Log.WarnContext(r.Context(), "ID token", "err", err, "nonce_matches", err == nil && idt.Nonce == p.Nonce)
		refuse("The identity provider's answer could not be verified; sign in again.")
		return
	}
	bearer := tok.AccessToken
	if s.OIDC.Bearer == "id_token" {
		bearer = rawID
	}
	sess, err := sessionFromToken(bearer, idt.Subject, idt.Expiry)
	if err != nil {
		refuse(err.Error())
		return
	}
	if _, err := s.Sessions.Start(w, r, sess); err != nil {
		s.Log.ErrorContext(r.Context(), "start session", "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, &plane.Error{Code: "UNAVAILABLE", Message: "Sessions cannot be stored now; try again shortly."})
		return
	}
	s.Log.InfoContext(r.Context(), "sign-in", "tenant", sess.Tenant, "subject", sess.Subject)
	http.Redirect(w, r, p.Next, http.StatusSeeOther)
}

// sessionFromToken reads who the bearer token speaks for. It is not verified here: the gateway verifies
// it on every call, and nothing the Cockpit decides from these claims grants anything.
func sessionFromToken(bearer, subject string, fallbackExpiry time.Time) (session.Session, error) {
	parts := strings.Split(bearer, ".")
	if len(parts) != 3 {
		return session.Session{}, errors.New("the identity provider's token is not a JWT the gateway could verify")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return session.Session{}, errors.New("the identity provider's token cannot be read")
	}
	var c struct {
		Sub    string   `json:"sub"`
		Tenant string   `json:"tenant"`
		Scope  string   `json:"scope"`
		Scopes []string `json:"scopes"`
		Exp    int64    `json:"exp"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return session.Session{}, errors.New("the identity provider's token cannot be read")
	}
	if c.Tenant == "" {
		return session.Session{}, errors.New("the identity provider's token names no tenant; ask your administrator to map one")
	}
	expires := fallbackExpiry
	if c.Exp > 0 {
		expires = time.Unix(c.Exp, 0)
	}
	if c.Sub != "" {
		subject = c.Sub
	}
	return session.Session{Token: bearer, Tenant: c.Tenant, Subject: subject, Scopes: append(strings.Fields(c.Scope), c.Scopes...),
		Expires: expires, Tenants: []string{c.Tenant}}, nil
}
