// Package session keeps who is signed in to the Cockpit: a random ID in an HttpOnly cookie, and behind it,
// in a Dapr state store that daprd encrypts (components/cockpitstore.yaml), the user's token for the
// gateway. The browser never holds the token, so a script injected into a page cannot take it away, and
// signing out ends the session for good, not only in this browser.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Session is one signed-in user.
type Session struct {
	// Token is the bearer token the Cockpit sends to the gateway on the user's behalf.
	Token   string    `json:"token"`
	Tenant  string    `json:"tenant"`
	Subject string    `json:"subject"`
	Scopes  []string  `json:"scopes"`
	Expires time.Time `json:"expires"`
	// Dev marks a development sign-in (a token from the local key), which every page says.
	Dev bool `json:"dev,omitempty"`
	// Tenants are the tenants this browser has signed in to, for the switcher.
	Tenants []string `json:"tenants,omitempty"`
	// CSRF is the token every form of this session carries back (see Manager.CheckForm).
	CSRF string `json:"csrf"`
	// LiveKey signs the lists of IDs the session's pages may watch (package live); it never leaves the
	// server.
	LiveKey string `json:"liveKey"`

	id string
}

// Can reports whether the user's token holds scope. It only decides what the pages offer: the gateway and
// the apps behind it check every request themselves.
func (s *Session) Can(scope string) bool { return s != nil && slices.Contains(s.Scopes, scope) }

// ID is the secret the cookie carries; pages use it to bind what they hand out (see live) to the session.
func (s *Session) ID() string { return s.id }

// Store is where sessions live; *DaprStore keeps them in a Dapr state store.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Save(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
}

// Manager starts, finds and ends sessions.
type Manager struct {
	Store Store
	// Cookie names the session cookie; Path is where the browser sends it.
	Cookie, Path string
	// Secure marks the cookie Secure: set it whenever the gateway is reached over HTTPS.
	Secure bool
}

// ErrNone means the request carries no live session.
var ErrNone = errors.New("not signed in")

// key is where a session is stored: a hash of its ID, so that whoever reads the store cannot use what they
// read as a cookie.
func key(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "session-" + hex.EncodeToString(sum[:])
}

// Load returns the request's session, or ErrNone.
func (m *Manager) Load(r *http.Request) (*Session, error) {
	c, err := r.Cookie(m.Cookie)
	if err != nil || c.Value == "" {
		return nil, ErrNone
	}
	raw, err := m.Store.Get(r.Context(), key(c.Value))
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	if len(raw) == 0 {
		return nil, ErrNone
	}
	var s Session
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("decode session: %w", err)
	}
	if time.Now().After(s.Expires) {
		return nil, ErrNone
	}
	s.id = c.Value
	return &s, nil
}

// Start stores s under a new ID and sets the cookie; the session lasts as long as its token. Any
// session the request had is ended first, so that an ID from before sign-in is never reused after it.
func (m *Manager) Start(w http.ResponseWriter, r *http.Request, s Session) (*Session, error) {
	m.End(w, r)
	id, err := random()
	if err != nil {
		return nil, err
	}
	if s.CSRF, err = random(); err != nil {
		return nil, err
	}
	if s.LiveKey, err = random(); err != nil {
		return nil, err
	}
	s.id = id
	if err := m.save(r.Context(), &s); err != nil {
		return nil, err
	}
	http.SetCookie(w, &http.Cookie{Name: m.Cookie, Value: id, Path: m.Path, HttpOnly: true, Secure: m.Secure,
		SameSite: http.SameSiteLaxMode, Expires: s.Expires})
	return &s, nil
}

// Update stores a changed session under its ID.
func (m *Manager) Update(ctx context.Context, s *Session) error { return m.save(ctx, s) }

func (m *Manager) save(ctx context.Context, s *Session) error {
	ttl := time.Until(s.Expires)
	if ttl <= 0 {
		return errors.New("the token has expired")
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode session: %w", err)
	}
	if err := m.Store.Save(ctx, key(s.id), raw, ttl); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return nil
}

// End deletes the request's session, if any, and clears the cookie.
func (m *Manager) End(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(m.Cookie); err == nil && c.Value != "" {
		_ = m.Store.Delete(r.Context(), key(c.Value))
	}
	http.SetCookie(w, &http.Cookie{Name: m.Cookie, Value: "", Path: m.Path, HttpOnly: true, Secure: m.Secure,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// CheckForm refuses a state-changing request that did not come from one of the session's own pages: its
// form must carry the session's CSRF token, and a browser that names the request's origin must name this
// one. (The cookie is SameSite=Lax as well; this covers browsers and proxies that do not honour it.)
func (m *Manager) CheckForm(r *http.Request, s *Session) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return errors.New("cross-site request refused")
	}
	got := r.PostFormValue("csrf")
	if got == "" {
		got = r.Header.Get("X-Csrf-Token")
	}
	if s == nil || subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) != 1 {
		return errors.New("the form is stale or not from this session; reload the page")
	}
	return nil
}

func random() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random session id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
