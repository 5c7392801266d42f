package ui

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/cockpit/plane"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/session"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// roles are what a development sign-in may ask for: every scope, or only those that read.
var roles = map[string][]string{
	"administrator": identity.AllScopes,
	"viewer": slices.DeleteFunc(slices.Clone(identity.AllScopes), func(s string) bool {
		return !strings.HasSuffix(s, ":read")
	}),
}

type signinView struct {
	Next      string
	Dev, OIDC bool
}

func (s *server) signinPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "signin", &view{Title: "Sign in", Data: signinView{Next: safeNext(r.URL.Query().Get("next")), Dev: s.DevKey != nil, OIDC: s.OIDC != nil}})
}

// devSignin signs in with a token from the local development key: any tenant, administrator or viewer.
// It exists only where the Cockpit was given that key (make run); production signs in with the identity
// provider.
func (s *server) devSignin(w http.ResponseWriter, r *http.Request) {
	if s.DevKey == nil {
		s.fail(w, r, http.StatusNotFound, &plane.Error{Code: "NOT_FOUND", Message: "Development sign-in is off here."})
		return
	}
	// No session yet, so no CSRF token: a cross-site post could only sign the browser in to a development
	// tenant, and browsers that say so are refused all the same.
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		s.fail(w, r, http.StatusForbidden, &plane.Error{Code: "FORBIDDEN", Message: "cross-site request refused"})
		return
	}
	tenant, role := strings.TrimSpace(r.PostFormValue("tenant")), r.PostFormValue("role")
	v := &view{Title: "Sign in", Data: signinView{Next: safeNext(r.PostFormValue("next")), Dev: true, OIDC: s.OIDC != nil}}
	if err := identity.ValidateTenant(tenant); err != nil {
		v.Err = &plane.Error{Code: "INVALID_INPUT", Message: "Tenant: " + err.Error(), RequestID: requestID(r)}
		s.render(w, r, http.StatusBadRequest, "signin", v)
		return
	}
	scopes, ok := roles[role]
	if !ok {
		v.Err = &plane.Error{Code: "INVALID_INPUT", Message: "Choose administrator or viewer.", RequestID: requestID(r)}
		s.render(w, r, http.StatusBadRequest, "signin", v)
		return
	}
	sess, err := s.devSession(tenant, role, scopes)
	if err != nil {
		s.Log.ErrorContext(r.Context(), "development token", "err", err)
		s.fail(w, r, http.StatusInternalServerError, &plane.Error{Code: "INTERNAL", Message: "The development key cannot sign now."})
		return
	}
	if _, err := s.Sessions.Start(w, r, sess); err != nil {
		s.Log.ErrorContext(r.Context(), "start session", "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, &plane.Error{Code: "UNAVAILABLE", Message: "Sessions cannot be stored now; try again shortly."})
		return
	}
	s.Log.InfoContext(r.Context(), "development sign-in", "tenant", tenant, "role", role)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (s *server) devSession(tenant, role string, scopes []string) (session.Session, error) {
	subject := "cockpit-" + role
	tok, err := s.DevKey.Sign(tenant, subject, scopes, s.DevTokenTTL)
	if err != nil {
		return session.Session{}, err
	}
	return session.Session{Token: tok, Tenant: tenant, Subject: subject, Scopes: scopes, Dev: true,
		Expires: time.Now().Add(s.DevTokenTTL), Tenants: []string{tenant}}, nil
}

// switchTenant moves a development session to another tenant with the same role. A token from the
// identity provider names one tenant, so there is nothing to switch to there.
func (s *server) switchTenant(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	tenant := strings.TrimSpace(r.PostFormValue("tenant"))
	if !sess.Dev || s.DevKey == nil {
		s.fail(w, r, http.StatusBadRequest, &plane.Error{Code: "INVALID_INPUT", Message: "Your token names one tenant; sign in again for another."})
		return
	}
	if err := identity.ValidateTenant(tenant); err != nil {
		s.fail(w, r, http.StatusBadRequest, &plane.Error{Code: "INVALID_INPUT", Message: "Tenant: " + err.Error()})
		return
	}
	role := strings.TrimPrefix(sess.Subject, "cockpit-")
	next, err := s.devSession(tenant, role, roles[role])
	if err != nil {
		s.Log.ErrorContext(r.Context(), "development token", "err", err)
		s.fail(w, r, http.StatusInternalServerError, &plane.Error{Code: "INTERNAL", Message: "The development key cannot sign now."})
		return
	}
	sess.Token, sess.Tenant, sess.Expires = next.Token, tenant, next.Expires
	if !slices.Contains(sess.Tenants, tenant) {
		sess.Tenants = append(sess.Tenants, tenant)
	}
	if err := s.Sessions.Update(r.Context(), sess); err != nil {
		s.Log.ErrorContext(r.Context(), "update session", "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, &plane.Error{Code: "UNAVAILABLE", Message: "Sessions cannot be stored now; try again shortly."})
		return
	}
	http.Redirect(w, r, Base+"/", http.StatusSeeOther)
}

func (s *server) signout(w http.ResponseWriter, r *http.Request) {
	s.Sessions.End(w, r)
	http.Redirect(w, r, Base+"/signin", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in redirect inside the Cockpit.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Base+"/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return Base + "/"
	}
	return next
}
