package ui

import (
	"net/http"

	"github.com/mgmtplane/mgmtplane/apps/cockpit/plane"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/session"
)

// credentialsView is an object's client credentials: the list (no secrets) and, right after creating
// them, the new ones with their secret, shown once.
type credentialsView struct {
	Object plane.Object
	Path   string
	Scope  string
	List   []plane.ClientCredentials
	New    *plane.ClientCredentials
	Err    *plane.Error
}

// credentialsOf reads an object's credentials for its page; a failure shows in the section, not instead
// of the page.
func (s *server) credentialsOf(r *http.Request, sess *session.Session, obj plane.Object, id, path, scope string) *credentialsView {
	cv := &credentialsView{Object: obj, Path: path, Scope: scope}
	list, err := s.Plane.SystemAuths(r.Context(), sess.Token, obj, id)
	if err != nil {
		_, cv.Err = s.apiError(r, err)
	}
	cv.List = list
	return cv
}

// createCredentials makes client credentials for the object of the path and shows its page with them;
// back renders that page given the new credentials, or the error.
func (s *server) createCredentials(w http.ResponseWriter, r *http.Request, sess *session.Session, obj plane.Object,
	back func(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, pe *plane.Error, created *plane.ClientCredentials)) {
	cc, err := s.Plane.RequestClientCredentials(r.Context(), sess.Token, obj, r.PathValue("id"))
	if err != nil {
		status, pe := s.apiError(r, err)
		back(w, r, sess, status, pe, nil)
		return
	}
	// Shown once, in this answer: the secret is never put in a URL or kept by the Cockpit.
	back(w, r, sess, http.StatusOK, nil, &cc)
}

func (s *server) deleteCredentials(w http.ResponseWriter, r *http.Request, sess *session.Session, obj plane.Object, done string,
	back func(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, pe *plane.Error, created *plane.ClientCredentials)) {
	err := s.Plane.DeleteSystemAuth(r.Context(), sess.Token, obj, r.PostFormValue("authID"))
	s.finish(w, r, err, done, func(status int, pe *plane.Error) { back(w, r, sess, status, pe, nil) })
}
