package ui

import (
	"net/http"
	"strings"

	"github.com/mgmtplane/mgmtplane/apps/cockpit/plane"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/session"
)

type bundleView struct {
	AppID  string
	Bundle *plane.BundleDetail
	// Spec is the definition whose specification is shown, with its kind ("api" or "event").
	Spec *plane.Definition
	Kind string
}

func (s *server) bundle(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.bundlePage(w, r, sess, http.StatusOK, nil)
}

func (s *server) bundlePage(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, formErr *plane.Error) {
	appID, id := r.PathValue("id"), r.PathValue("bundle")
	b, err := s.Plane.Bundle(r.Context(), sess.Token, appID, id)
	if err == nil && b == nil {
		err = &plane.Error{Code: "NOT_FOUND", Message: "There is no such bundle of this application in tenant " + sess.Tenant + "."}
	}
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	s.render(w, r, status, "bundle", &view{Title: b.Name, Nav: "applications", Session: sess, Err: formErr,
		Live: watch(sess, appID), Data: bundleView{AppID: appID, Bundle: b}})
}

// spec shows one definition's specification as its text: the Cockpit renders no third-party viewer, and
// the text is what the application registered.
func (s *server) spec(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	appID, bundleID, kind := r.PathValue("id"), r.PathValue("bundle"), r.PathValue("kind")
	def, err := s.Plane.Spec(r.Context(), sess.Token, appID, bundleID, kind, r.PathValue("def"))
	if err == nil && def == nil {
		err = &plane.Error{Code: "NOT_FOUND", Message: "There is no such definition in this bundle."}
	}
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "spec", &view{Title: def.Name, Nav: "applications", Session: sess,
		Data: bundleView{AppID: appID, Bundle: &plane.BundleDetail{ID: bundleID}, Spec: def, Kind: kind}})
}

// approveInstanceAuth answers a pending request for credentials with the credentials given, as the
// application would have.
func (s *server) approveInstanceAuth(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	cr := plane.Credentials{Username: strings.TrimSpace(r.PostFormValue("username")), Password: r.PostFormValue("password"),
		ClientID: strings.TrimSpace(r.PostFormValue("clientId")), ClientSecret: r.PostFormValue("clientSecret"),
		TokenURL: strings.TrimSpace(r.PostFormValue("tokenURL"))}
	if (cr.Username == "" || cr.Password == "") && (cr.ClientID == "" || cr.ClientSecret == "" || cr.TokenURL == "") {
		s.bundlePage(w, r, sess, http.StatusBadRequest, &plane.Error{Code: "INVALID_INPUT", RequestID: requestID(r),
			Message: "Give a username and password, or an OAuth client ID, secret and token URL."})
		return
	}
	s.answerInstanceAuth(w, r, sess, s.Plane.ApproveInstanceAuth(r.Context(), sess.Token, r.PathValue("auth"), cr))
}

func (s *server) denyInstanceAuth(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	msg := strings.TrimSpace(r.PostFormValue("message"))
	if msg == "" {
		msg = "Denied by " + sess.Subject + " in the Cockpit."
	}
	s.answerInstanceAuth(w, r, sess, s.Plane.DenyInstanceAuth(r.Context(), sess.Token, r.PathValue("auth"), msg))
}

func (s *server) answerInstanceAuth(w http.ResponseWriter, r *http.Request, sess *session.Session, err error) {
	s.finish(w, r, err, Base+"/applications/"+r.PathValue("id")+"/bundles/"+r.PathValue("bundle"),
		func(status int, pe *plane.Error) { s.bundlePage(w, r, sess, status, pe) })
}
