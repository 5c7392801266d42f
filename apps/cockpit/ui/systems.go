package ui

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/mgmtplane/mgmtplane/apps/cockpit/plane"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/session"
)

type systemsView struct {
	Systems    []plane.IntegrationSystem
	PageInfo   plane.PageInfo
	TotalCount int
	After      string
	// For and New are the system whose credentials were just created, and those credentials (shown once).
	For string
	New *plane.ClientCredentials
}

func (s *server) systems(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.systemsPage(w, r, sess, http.StatusOK, nil, systemsView{})
}

func (s *server) systemsPage(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, formErr *plane.Error, v systemsView) {
	v.After = r.URL.Query().Get("after")
	var err error
	v.Systems, v.PageInfo, v.TotalCount, err = s.Plane.IntegrationSystems(r.Context(), sess.Token, PageSize, v.After)
	if err != nil {
		status, formErr = s.apiError(r, err)
	}
	s.render(w, r, status, "systems", &view{Title: "Integration systems", Nav: "systems", Session: sess, Err: formErr, Data: v})
}

func (s *server) registerSystem(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	err := s.Plane.RegisterIntegrationSystem(r.Context(), sess.Token, strings.TrimSpace(r.PostFormValue("name")), strings.TrimSpace(r.PostFormValue("description")))
	s.afterSystems(w, r, sess, err)
}

func (s *server) unregisterSystem(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.afterSystems(w, r, sess, s.Plane.UnregisterIntegrationSystem(r.Context(), sess.Token, r.PathValue("id")))
}

func (s *server) afterSystems(w http.ResponseWriter, r *http.Request, sess *session.Session, err error) {
	s.finish(w, r, err, Base+"/systems", func(status int, pe *plane.Error) { s.systemsPage(w, r, sess, status, pe, systemsView{}) })
}

func (s *server) systemCredentials(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.createCredentials(w, r, sess, plane.IntegrationSystemObject, func(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, pe *plane.Error, cc *plane.ClientCredentials) {
		s.systemsPage(w, r, sess, status, pe, systemsView{For: r.PathValue("id"), New: cc})
	})
}

type templatesView struct {
	Templates []plane.Template
	Form      map[string]string
}

func (s *server) templates(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.templatesPage(w, r, sess, http.StatusOK, nil, nil)
}

func (s *server) templatesPage(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, formErr *plane.Error, form map[string]string) {
	ts, err := s.Plane.Templates(r.Context(), sess.Token)
	if err != nil {
		status, formErr = s.apiError(r, err)
	}
	s.render(w, r, status, "templates", &view{Title: "Application templates", Nav: "templates", Session: sess, Err: formErr,
		Data: templatesView{Templates: ts, Form: form}})
}

// fromTemplate registers an application from a template; the form's fields named v.<placeholder> hold
// the values.
func (s *server) fromTemplate(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	if err := r.ParseForm(); err != nil {
		s.templatesPage(w, r, sess, http.StatusBadRequest, &plane.Error{Code: "INVALID_INPUT", Message: "The form cannot be read.", RequestID: requestID(r)}, nil)
		return
	}
	values := map[string]string{}
	for k, v := range r.PostForm {
		if name, ok := strings.CutPrefix(k, "v."); ok && len(v) > 0 {
			values[name] = strings.TrimSpace(v[0])
		}
	}
	id, err := s.Plane.RegisterFromTemplate(r.Context(), sess.Token, r.PostFormValue("template"), values)
	if err != nil {
		status, pe := s.apiError(r, err)
		s.templatesPage(w, r, sess, status, pe, nil)
		return
	}
	http.Redirect(w, r, Base+"/applications/"+id, http.StatusSeeOther)
}

var placeholderRef = regexp.MustCompile(`\{\{\s*([a-z][a-z0-9.\-]*)\s*\}\}`)

// createTemplate creates a template from an application input written as JSON; its placeholders are
// the {{names}} the JSON uses.
func (s *server) createTemplate(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	form := map[string]string{"name": strings.TrimSpace(r.PostFormValue("name")), "description": strings.TrimSpace(r.PostFormValue("description")),
		"applicationInput": r.PostFormValue("applicationInput")}
	var in map[string]any
	if err := json.Unmarshal([]byte(form["applicationInput"]), &in); err != nil {
		s.templatesPage(w, r, sess, http.StatusBadRequest, &plane.Error{Code: "INVALID_INPUT", RequestID: requestID(r),
			Message: "The application input is not a JSON object: " + err.Error()}, form)
		return
	}
	var names []string
	for _, m := range placeholderRef.FindAllStringSubmatch(form["applicationInput"], -1) {
		if !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	err := s.Plane.CreateTemplate(r.Context(), sess.Token, form["name"], form["description"], in, names)
	s.finish(w, r, err, Base+"/templates", func(status int, pe *plane.Error) { s.templatesPage(w, r, sess, status, pe, form) })
}
