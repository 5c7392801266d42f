package session_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/cockpit/session"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/session/sessiontest"
)

func started(t *testing.T, m *session.Manager, s session.Session) (*session.Session, *http.Cookie) {
	t.Helper()
	rec := httptest.NewRecorder()
	got, err := m.Start(rec, httptest.NewRequest(http.MethodPost, "/cockpit/signin/dev", nil), s)
	if err != nil {
		t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	c := cookies[len(cookies)-1]
	return got, c
}

func TestStartLoadEnd(t *testing.T) {
	store := sessiontest.New()
	m := &session.Manager{Store: store, Cookie: "s", Path: "/cockpit/"}
	s, c := started(t, m, session.Session{Token: "tok", Tenant: "t1", Scopes: []string{"application:read"}, Expires: time.Now().Add(time.Hour)})
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/cockpit/" || c.Value == "" {
		t.Errorf("cookie %+v", c)
	}
	for k, v := range store.Data {
		if strings.Contains(k, c.Value) || strings.Contains(string(v), c.Value) {
			t.Error("the store holds the cookie's value: whoever reads it could use it")
		}
		if ttl := store.TTL[k]; ttl <= 0 || ttl > time.Hour {
			t.Errorf("stored for %v, want the token's remaining life", ttl)
		}
	}
	if s.CSRF == "" || s.LiveKey == "" || s.CSRF == s.LiveKey {
		t.Errorf("CSRF %q, live key %q", s.CSRF, s.LiveKey)
	}

	r := httptest.NewRequest(http.MethodGet, "/cockpit/", nil)
	r.AddCookie(c)
	got, err := m.Load(r)
	if err != nil || got.Token != "tok" || !got.Can("application:read") || got.Can("application:write") || got.ID() != c.Value {
		t.Fatalf("loaded %+v, %v", got, err)
	}

	m.End(httptest.NewRecorder(), r)
	if _, err := m.Load(r); err != session.ErrNone {
		t.Errorf("after End: %v", err)
	}
	if len(store.Data) != 0 {
		t.Error("End left the session in the store")
	}
}

func TestExpiredOrUnknownSessionsAreNone(t *testing.T) {
	m := &session.Manager{Store: sessiontest.New(), Cookie: "s", Path: "/"}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if _, err := m.Load(r); err != session.ErrNone {
		t.Errorf("no cookie: %v", err)
	}
	r.AddCookie(&http.Cookie{Name: "s", Value: "made-up"})
	if _, err := m.Load(r); err != session.ErrNone {
		t.Errorf("unknown id: %v", err)
	}
	if _, err := m.Start(httptest.NewRecorder(), r, session.Session{Expires: time.Now().Add(-time.Second)}); err == nil {
		t.Error("a session was started with an expired token")
	}
}

func TestCheckForm(t *testing.T) {
	s := &session.Session{CSRF: "right"}
	m := &session.Manager{}
	form := func(csrf, site string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/cockpit/x", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if site != "" {
			r.Header.Set("Sec-Fetch-Site", site)
		}
		return r
	}
	if err := m.CheckForm(form("right", "same-origin"), s); err != nil {
		t.Errorf("a form of the session was refused: %v", err)
	}
	if err := m.CheckForm(form("right", ""), s); err != nil {
		t.Errorf("a browser that does not say where from was refused: %v", err)
	}
	for name, r := range map[string]*http.Request{
		"wrong token": form("wrong", "same-origin"), "no token": form("", "same-origin"),
		"cross-site": form("right", "cross-site"), "same-site": form("right", "same-site"),
	} {
		if err := m.CheckForm(r, s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
