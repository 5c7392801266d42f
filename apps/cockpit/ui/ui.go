// Package ui is the Cockpit's web edge: server-rendered pages over the plane's public APIs (package
// plane), one handler per page or form, with a little script of our own for what a page does while it is
// open (live refresh, checking a label as it is typed). Every page works without the script.
package ui

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mgmtplane/mgmtplane/apps/cockpit/activity"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/live"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/plane"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/session"
	"github.com/mgmtplane/mgmtplane/apps/internal/devtoken"
	"github.com/mgmtplane/mgmtplane/apps/internal/logger"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Base is where the gateway serves the Cockpit; every link starts with it.
const Base = "/cockpit"

// PageSize is how many objects a list page shows: never more, whatever the tenant holds.
const PageSize = 50

// Deps is what the pages need.
type Deps struct {
	Log      *slog.Logger
	Sessions *session.Manager
	Plane    *plane.Client
	Hub      *live.Hub
	// DevKey signs development sign-ins; nil turns them off (production).
	DevKey *devtoken.LocalKey
	// Activity is the tenants' recent activity, for the overview.
	Activity *activity.Feed
	// OIDC signs users in with the identity provider; nil when none is configured.
	OIDC *OIDC
	// DevTokenTTL is how long a development sign-in lasts.
	DevTokenTTL time.Duration
	// LiveMaxAge ends each event stream after this long (see live.Serve).
	LiveMaxAge time.Duration
}

type server struct {
	Deps
	pages map[string]*template.Template
}

// Handler serves the Cockpit under Base.
func Handler(d Deps) (http.Handler, error) {
	_, h, err := newHandler(d)
	return h, err
}

func newHandler(d Deps) (*server, http.Handler, error) {
	s := &server{Deps: d, pages: map[string]*template.Template{}}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, nil, err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, nil, fmt.Errorf("template %s: %w", n, err)
		}
		s.pages[base] = t
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("GET "+Base+"/static/", http.StripPrefix(Base+"/static/", immutable(http.FileServerFS(static))))
	mux.HandleFunc("GET "+Base+"/signin", s.signinPage)
	mux.HandleFunc("POST "+Base+"/signin/dev", s.devSignin)
	mux.HandleFunc("GET "+Base+"/signin/oidc", s.oidcStart)
	mux.HandleFunc("GET "+Base+"/signin/callback", s.oidcCallback)
	mux.HandleFunc("POST "+Base+"/signout", s.signout)
	mux.HandleFunc("POST "+Base+"/tenant", s.form(s.switchTenant))
	mux.HandleFunc("GET "+Base+"/live", s.signedIn(s.liveStream))

	mux.HandleFunc("GET "+Base+"/{$}", s.signedIn(s.overview))
	// daprd strips the trailing slash of an invoked method's path: /cockpit/ arrives here as /cockpit.
	mux.HandleFunc("GET "+Base, s.signedIn(s.overview))
	mux.HandleFunc("GET "+Base+"/applications", s.signedIn(s.applications))
	mux.HandleFunc("POST "+Base+"/applications", s.form(s.registerApplication))
	mux.HandleFunc("GET "+Base+"/applications/{id}", s.signedIn(s.application))
	mux.HandleFunc("POST "+Base+"/applications/{id}/labels", s.form(s.setApplicationLabel))
	mux.HandleFunc("POST "+Base+"/applications/{id}/labels/delete", s.form(s.deleteApplicationLabel))
	mux.HandleFunc("POST "+Base+"/applications/{id}/pair", s.form(s.pairApplication))
	mux.HandleFunc("POST "+Base+"/applications/{id}/unregister", s.form(s.unregisterApplication))
	mux.HandleFunc("POST "+Base+"/applications/{id}/credentials", s.form(s.applicationCredentials))
	mux.HandleFunc("POST "+Base+"/applications/{id}/webhooks", s.form(s.addWebhook))
	mux.HandleFunc("POST "+Base+"/applications/{id}/webhooks/delete", s.form(s.deleteWebhook))
	mux.HandleFunc("POST "+Base+"/applications/{id}/credentials/delete", s.form(s.deleteApplicationCredentials))
	mux.HandleFunc("POST "+Base+"/labels/check", s.form(s.checkLabel))
	mux.HandleFunc("GET "+Base+"/applications/{id}/bundles/{bundle}", s.signedIn(s.bundle))
	mux.HandleFunc("GET "+Base+"/applications/{id}/bundles/{bundle}/{kind}/{def}", s.signedIn(s.spec))
	mux.HandleFunc("GET "+Base+"/applications/{id}/bundles/{bundle}/documents/{doc}", s.signedIn(s.document))
	mux.HandleFunc("POST "+Base+"/applications/{id}/bundles/{bundle}/documents", s.form(s.addDocument))
	mux.HandleFunc("POST "+Base+"/applications/{id}/bundles/{bundle}/documents/{doc}/delete", s.form(s.deleteDocument))
	mux.HandleFunc("POST "+Base+"/applications/{id}/edit", s.form(s.editApplication))
	mux.HandleFunc("POST "+Base+"/applications/{id}/bundles/{bundle}/auths/{auth}/approve", s.form(s.approveInstanceAuth))
	mux.HandleFunc("POST "+Base+"/applications/{id}/bundles/{bundle}/auths/{auth}/deny", s.form(s.denyInstanceAuth))

	mux.HandleFunc("GET "+Base+"/runtimes", s.signedIn(s.runtimes))
	mux.HandleFunc("POST "+Base+"/runtimes", s.form(s.provisionRuntime))
	mux.HandleFunc("GET "+Base+"/runtimes/{id}", s.signedIn(s.runtime))
	mux.HandleFunc("POST "+Base+"/runtimes/{id}/labels", s.form(s.setRuntimeLabel))
	mux.HandleFunc("POST "+Base+"/runtimes/{id}/labels/delete", s.form(s.deleteRuntimeLabel))
	mux.HandleFunc("POST "+Base+"/runtimes/{id}/deprovision", s.form(s.deprovisionRuntime))
	mux.HandleFunc("POST "+Base+"/runtimes/{id}/pair", s.form(s.pairRuntime))
	mux.HandleFunc("POST "+Base+"/runtimes/{id}/credentials", s.form(s.runtimeCredentials))
	mux.HandleFunc("POST "+Base+"/runtimes/{id}/credentials/delete", s.form(s.deleteRuntimeCredentials))
	mux.HandleFunc("GET "+Base+"/instances", s.signedIn(s.instances))
	mux.HandleFunc("GET "+Base+"/configurations", s.signedIn(s.configurations))
	mux.HandleFunc("POST "+Base+"/configurations", s.form(s.createConfiguration))
	mux.HandleFunc("GET "+Base+"/configurations/{id}", s.signedIn(s.configuration))
	mux.HandleFunc("POST "+Base+"/configurations/{id}/bindings", s.form(s.putBinding))
	mux.HandleFunc("POST "+Base+"/configurations/{id}/bindings/delete", s.form(s.removeBinding))
	mux.HandleFunc("POST "+Base+"/configurations/{id}/rollback", s.form(s.rollbackConfiguration))
	mux.HandleFunc("POST "+Base+"/configurations/{id}/delete", s.form(s.deleteConfiguration))
	mux.HandleFunc("POST "+Base+"/configurations/{id}/rollout", s.form(s.actOnRollout))
	mux.HandleFunc("POST "+Base+"/selector/check", s.form(s.checkSelector))
	mux.HandleFunc("GET "+Base+"/labels", s.signedIn(s.labelDefinitions))
	mux.HandleFunc("POST "+Base+"/labels", s.form(s.saveLabelDefinition))
	mux.HandleFunc("POST "+Base+"/labels/delete", s.form(s.deleteLabelDefinition))
	mux.HandleFunc("POST "+Base+"/schema/check", s.form(s.checkSchema))
	mux.HandleFunc("GET "+Base+"/scenarios", s.signedIn(s.scenarios))
	mux.HandleFunc("POST "+Base+"/scenarios", s.form(s.addScenario))
	mux.HandleFunc("POST "+Base+"/scenarios/remove", s.form(s.removeScenario))
	mux.HandleFunc("POST "+Base+"/scenarios/assign", s.form(s.assignScenario))
	mux.HandleFunc("POST "+Base+"/scenarios/unassign", s.form(s.unassignScenario))
	mux.HandleFunc("GET "+Base+"/systems", s.signedIn(s.systems))
	mux.HandleFunc("POST "+Base+"/systems", s.form(s.registerSystem))
	mux.HandleFunc("POST "+Base+"/systems/{id}/unregister", s.form(s.unregisterSystem))
	mux.HandleFunc("POST "+Base+"/systems/{id}/credentials", s.form(s.systemCredentials))
	mux.HandleFunc("GET "+Base+"/templates", s.signedIn(s.templates))
	mux.HandleFunc("POST "+Base+"/templates", s.form(s.createTemplate))
	mux.HandleFunc("POST "+Base+"/templates/register", s.form(s.fromTemplate))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, http.StatusNotFound, "error", &view{Title: "Not found", Err: &plane.Error{Code: "NOT_FOUND",
			Message: "There is no page at this address.", RequestID: requestID(r)}})
	})
	return s, secureHeaders(withRequestID(mux)), nil
}

// view is what every page template gets.
type view struct {
	Title string
	// Nav names the section the page belongs to, for the navigation's aria-current.
	Nav     string
	Session *session.Session
	Err     *plane.Error
	Notice  string
	// Live is the signed list of IDs the page watches (package live), empty when it watches none.
	Live string
	// Since is when the page's request began (Unix nanoseconds): its event stream starts from there, so a
	// change made while the page was being built is not missed.
	Since int64
	Data  any
}

// Can reports whether the signed-in user holds scope.
func (v *view) Can(scope string) bool { return v.Session.Can(scope) }

// handler is a page or form handler for a signed-in user.
type handler func(w http.ResponseWriter, r *http.Request, s *session.Session)

// signedIn sends a request without a session to sign-in, and back here afterwards.
func (s *server) signedIn(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.Sessions.Load(r)
		if errors.Is(err, session.ErrNone) {
			if r.Method == http.MethodGet && r.URL.Path != Base+"/live" {
				http.Redirect(w, r, Base+"/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.fail(w, r, http.StatusUnauthorized, &plane.Error{Code: "UNAUTHENTICATED", Message: "Your sign-in has ended; sign in again."})
			return
		}
		if err != nil {
			s.Log.ErrorContext(r.Context(), "load session", "err", err)
			s.fail(w, r, http.StatusServiceUnavailable, &plane.Error{Code: "UNAVAILABLE", Message: "Sessions cannot be read now; try again shortly."})
			return
		}
		h(w, r.WithContext(plane.WithRequestID(r.Context(), requestID(r))), sess)
	}
}

// form is signedIn for requests that change something: they must come from one of the session's pages.
func (s *server) form(h handler) http.HandlerFunc {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request, sess *session.Session) {
		if err := s.Sessions.CheckForm(r, sess); err != nil {
			s.fail(w, r, http.StatusForbidden, &plane.Error{Code: "FORBIDDEN", Message: err.Error()})
			return
		}
		h(w, r, sess)
	})
}

// render writes a page.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, page string, v *view) {
	t, ok := s.pages[page]
	if !ok {
		s.Log.ErrorContext(r.Context(), "no such page template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	v.Since, _ = r.Context().Value(startKey{}).(int64)
	var buf strings.Builder
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		s.Log.ErrorContext(r.Context(), "render page", "page", page, "err", err)
		http.Error(w, "internal error, request "+requestID(r), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(buf.String()))
}

// fail shows an error on a page of its own; script calls (Accept: application/json) get it as JSON.
func (s *server) fail(w http.ResponseWriter, r *http.Request, status int, e *plane.Error) {
	if e.RequestID == "" {
		e.RequestID = requestID(r)
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeError(w, status, e)
		return
	}
	sess, _ := s.Sessions.Load(r)
	s.render(w, r, status, "error", &view{Title: "Something went wrong", Session: sess, Err: e})
}

// writeError answers a script's call with the error as JSON: code, message, request ID.
func writeError(w http.ResponseWriter, status int, e *plane.Error) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": e.Code, "message": e.Message, "requestId": e.RequestID}})
}

// apiError turns what a plane call returned into what the user sees, and its status. The cause of
// anything but an API's own answer stays in the log.
func (s *server) apiError(r *http.Request, err error) (int, *plane.Error) {
	var pe *plane.Error
	if !errors.As(err, &pe) {
		pe = &plane.Error{Code: "INTERNAL", Message: "Something failed on our side.", RequestID: requestID(r)}
	}
	if pe.Code == "UNAVAILABLE" || pe.Code == "INTERNAL" {
		s.Log.ErrorContext(r.Context(), "plane call", "err", err)
	}
	switch pe.Code {
	case "UNAUTHENTICATED":
		return http.StatusUnauthorized, pe
	case "FORBIDDEN", "INSUFFICIENT_SCOPE":
		return http.StatusForbidden, pe
	case "NOT_FOUND":
		return http.StatusNotFound, pe
	case "UNAVAILABLE":
		return http.StatusBadGateway, pe
	case "INTERNAL":
		return http.StatusInternalServerError, pe
	}
	return http.StatusBadRequest, pe
}

// finish ends a form: on to the page at `to` when the call succeeded, else the form's page again, which
// again renders with the status and the reason.
func (s *server) finish(w http.ResponseWriter, r *http.Request, err error, to string, again func(status int, pe *plane.Error)) {
	if err != nil {
		status, pe := s.apiError(r, err)
		again(status, pe)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// failAPI shows a failed plane call on the error page.
func (s *server) failAPI(w http.ResponseWriter, r *http.Request, err error) {
	status, pe := s.apiError(r, err)
	s.fail(w, r, status, pe)
}

// liveStream is the event stream of the IDs a page was rendered with.
func (s *server) liveStream(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	ids, err := live.Verify(sess.LiveKey, r.URL.Query().Get("w"))
	if err != nil {
		s.fail(w, r, http.StatusForbidden, &plane.Error{Code: "FORBIDDEN", Message: err.Error()})
		return
	}
	since, _ := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
	s.Hub.Serve(w, r, ids, since, s.LiveMaxAge)
}

// watch signs ids for the page's event stream.
func watch(sess *session.Session, ids ...string) string {
	if len(ids) == 0 {
		return ""
	}
	return live.Sign(sess.LiveKey, ids)
}

func requestID(r *http.Request) string { return r.Header.Get("X-Request-Id") }

type startKey struct{}

// withRequestID gives every request an ID (the gateway's, when it came through the gateway) and sends it
// back, so that an error on a page can be found in the logs.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rid := r.Header.Get("X-Request-Id")
		if rid == "" {
			rid = uuid.NewString()
			r.Header.Set("X-Request-Id", rid)
		}
		w.Header().Set("X-Request-Id", rid)
		ctx := context.WithValue(r.Context(), startKey{}, time.Now().UnixNano())
		next.ServeHTTP(w, r.WithContext(logger.WithAttrs(ctx, slog.String("request_id", rid))))
	})
}

// secureHeaders keeps pages to the Cockpit's own scripts and styles and out of other sites' frames.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func immutable(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		next.ServeHTTP(w, r)
	})
}
