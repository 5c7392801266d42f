package ui

import (
	"html/template"
	"net/http"
	"strings"

	"github.com/mgmtplane/mgmtplane/apps/cockpit/plane"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/render"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/session"
)

type bundleView struct {
	AppID  string
	Bundle *plane.BundleDetail
	// Spec is the definition whose specification is shown, with its kind ("api" or "event"), its text
	// as it reads best, and the outline read from it (nil for a kind without one, or with OutlineErr).
	Spec       *plane.Definition
	Kind       string
	SpecText   string
	Outline    *render.Outline
	OutlineErr string
	// Doc is the document shown, with its Markdown rendered (or why it was not).
	Doc       *plane.Document
	DocHTML   template.HTML
	RenderErr string
	Form      map[string]string
}

func (s *server) bundle(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.bundlePage(w, r, sess, http.StatusOK, nil)
}

func (s *server) bundlePage(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, formErr *plane.Error) {
	s.bundleForm(w, r, sess, status, formErr, nil)
}

func (s *server) bundleForm(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, formErr *plane.Error, form map[string]string) {
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
		Live: watch(sess, appID), Data: bundleView{AppID: appID, Bundle: b, Form: form}})
}

// spec shows one definition's specification: an outline of its operations or channels read from it, and
// its text as the application registered it (JSON indented). Nothing in it runs: the Cockpit embeds no
// third-party viewer.
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
	v := bundleView{AppID: appID, Bundle: &plane.BundleDetail{ID: bundleID}, Spec: def, Kind: kind}
	if def.Spec != nil {
		v.SpecText = render.Pretty(def.Spec.Format, def.Spec.Data)
		if v.Outline, err = render.Outlines(def.Spec.Type, def.Spec.Format, def.Spec.Data); err != nil {
			v.OutlineErr = err.Error()
		}
	}
	s.render(w, r, http.StatusOK, "spec", &view{Title: def.Name, Nav: "applications", Session: sess, Data: v})
}

// document shows one of a bundle's documents, its Markdown rendered.
func (s *server) document(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	appID, bundleID := r.PathValue("id"), r.PathValue("bundle")
	doc, err := s.Plane.Document(r.Context(), sess.Token, appID, bundleID, r.PathValue("doc"))
	if err == nil && doc == nil {
		err = &plane.Error{Code: "NOT_FOUND", Message: "There is no such document in this bundle."}
	}
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	v := bundleView{AppID: appID, Bundle: &plane.BundleDetail{ID: bundleID}, Doc: doc}
	if v.DocHTML, err = render.Markdown(doc.Data); err != nil {
		v.RenderErr = err.Error()
	}
	s.render(w, r, http.StatusOK, "document", &view{Title: doc.DisplayName, Nav: "applications", Session: sess, Data: v})
}

// addDocument adds a Markdown document written on the bundle page.
func (s *server) addDocument(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	form := map[string]string{}
	for _, k := range []string{"title", "displayName", "description", "kind", "data"} {
		form[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	if form["title"] == "" || form["displayName"] == "" || form["description"] == "" || form["data"] == "" {
		s.bundleForm(w, r, sess, http.StatusBadRequest, &plane.Error{Code: "INVALID_INPUT", RequestID: requestID(r),
			Message: "A document needs a title, a display name, a description and its text."}, form)
		return
	}
	_, err := s.Plane.AddDocument(r.Context(), sess.Token, r.PathValue("bundle"), plane.Document{Title: form["title"],
		DisplayName: form["displayName"], Description: form["description"], Kind: form["kind"], Data: form["data"]})
	s.finish(w, r, err, Base+"/applications/"+r.PathValue("id")+"/bundles/"+r.PathValue("bundle"),
		func(status int, pe *plane.Error) { s.bundleForm(w, r, sess, status, pe, form) })
}

func (s *server) deleteDocument(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	err := s.Plane.DeleteDocument(r.Context(), sess.Token, r.PathValue("doc"))
	s.finish(w, r, err, Base+"/applications/"+r.PathValue("id")+"/bundles/"+r.PathValue("bundle"),
		func(status int, pe *plane.Error) { s.bundlePage(w, r, sess, status, pe) })
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
