package ui

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/mgmtplane/mgmtplane/apps/cockpit/plane"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/session"
	"github.com/mgmtplane/mgmtplane/apps/internal/schemacheck"
)

// listView is a page of a list with the way to the next one.
type listView[T any] struct {
	Page   T
	Filter string
	After  string
	// Name is the name searched for; the page then holds the application of that name, if any.
	Name string
	// Form holds what a failed form on the page was sent with, to show it again.
	Form map[string]string
}

func (s *server) applications(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.applicationList(w, r, sess, http.StatusOK, nil, nil)
}

func (s *server) applicationList(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, formErr *plane.Error, form map[string]string) {
	q := r.URL.Query()
	filter, after, name := q.Get("filter"), q.Get("after"), strings.TrimSpace(q.Get("name"))
	var page plane.ApplicationPage
	var err error
	if name != "" {
		// A name is unique in a tenant, so the Director finds it in one read however many there are.
		var app *plane.Application
		if app, err = s.Plane.ApplicationByName(r.Context(), sess.Token, name); app != nil {
			page.Data, page.TotalCount = []plane.Application{*app}, 1
		}
		filter, after = "", ""
	} else {
		page, err = s.Plane.Applications(r.Context(), sess.Token, plane.ParseFilter(filter), PageSize, after)
	}
	if err != nil {
		status, formErr = s.apiError(r, err)
	}
	ids := make([]string, 0, len(page.Data))
	for _, a := range page.Data {
		ids = append(ids, a.ID)
	}
	s.render(w, r, status, "applications", &view{Title: "Applications", Nav: "applications", Session: sess, Err: formErr,
		Live: watch(sess, ids...), Data: listView[plane.ApplicationPage]{Page: page, Filter: filter, After: after, Name: name, Form: form}})
}

func (s *server) registerApplication(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	form := map[string]string{
		"name": strings.TrimSpace(r.PostFormValue("name")), "providerName": strings.TrimSpace(r.PostFormValue("providerName")),
		"description": strings.TrimSpace(r.PostFormValue("description")),
	}
	id, err := s.Plane.RegisterApplication(r.Context(), sess.Token, plane.ApplicationInput{
		Name: form["name"], ProviderName: form["providerName"], Description: form["description"]})
	if err != nil {
		status, pe := s.apiError(r, err)
		s.applicationList(w, r, sess, status, pe, form)
		return
	}
	http.Redirect(w, r, Base+"/applications/"+id, http.StatusSeeOther)
}

// applicationView is the application page: the application and, right after pairing, its token.
type applicationView struct {
	App         *plane.Application
	Pairing     *plane.Pairing
	Credentials *credentialsView
	Form        map[string]string
	// Editing opens the edit form, as it was sent, after the Director refused it.
	Editing bool
	// NewCredentials are client credentials just created, shown once.
	NewCredentials *plane.ClientCredentials
}

func (s *server) application(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.applicationPage(w, r, sess, http.StatusOK, nil, applicationView{})
}

func (s *server) applicationPage(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, formErr *plane.Error, v applicationView) {
	app, err := s.Plane.Application(r.Context(), sess.Token, r.PathValue("id"))
	if err == nil && app == nil {
		err = &plane.Error{Code: "NOT_FOUND", Message: "There is no application with this ID in tenant " + sess.Tenant + "."}
	}
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	v.App = app
	v.Credentials = s.credentialsOf(r, sess, plane.ApplicationObject, app.ID, Base+"/applications/"+app.ID, "application:write")
	v.Credentials.New = v.NewCredentials
	s.render(w, r, status, "application", &view{Title: app.Name, Nav: "applications", Session: sess, Err: formErr,
		Live: watch(sess, app.ID), Data: v})
}

func (s *server) setApplicationLabel(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.setLabel(w, r, sess, plane.ApplicationObject, s.applicationAgain)
}

func (s *server) deleteApplicationLabel(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.deleteLabel(w, r, sess, plane.ApplicationObject, s.applicationAgain)
}

func (s *server) applicationAgain(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, pe *plane.Error, form map[string]string) {
	s.applicationPage(w, r, sess, status, pe, applicationView{Form: form})
}

// again shows an object's page once more after a form on it failed, with the form as it was sent.
type again func(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, pe *plane.Error, form map[string]string)

// setLabel sets the label of the form on the object of the path. The value is JSON; anything that is not
// is taken as a string, which is what people mean when they type prod.
func (s *server) setLabel(w http.ResponseWriter, r *http.Request, sess *session.Session, obj plane.Object, back again) {
	id := r.PathValue("id")
	form := map[string]string{"key": strings.TrimSpace(r.PostFormValue("key")), "value": r.PostFormValue("value")}
	err := s.Plane.SetLabel(r.Context(), sess.Token, obj, id, form["key"], labelValue(form["value"]))
	s.finish(w, r, err, objectPath(obj, id), func(status int, pe *plane.Error) { back(w, r, sess, status, pe, form) })
}

func (s *server) deleteLabel(w http.ResponseWriter, r *http.Request, sess *session.Session, obj plane.Object, back again) {
	id := r.PathValue("id")
	err := s.Plane.DeleteLabel(r.Context(), sess.Token, obj, id, r.PostFormValue("key"))
	s.finish(w, r, err, objectPath(obj, id), func(status int, pe *plane.Error) { back(w, r, sess, status, pe, nil) })
}

func objectPath(obj plane.Object, id string) string {
	if obj == plane.RuntimeObject {
		return Base + "/runtimes/" + id
	}
	return Base + "/applications/" + id
}

func labelValue(raw string) any {
	var v any
	if err := json.Unmarshal([]byte(strings.TrimSpace(raw)), &v); err == nil {
		return v
	}
	return strings.TrimSpace(raw)
}

// checkLabel answers whether a value satisfies its key's label definition, for the label form to say so
// while it is typed. The Director checks again, with the same rules (package schemacheck), when the label
// is set.
func (s *server) checkLabel(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	key := strings.TrimSpace(r.PostFormValue("key"))
	if key == "" {
		writeJSON(w, http.StatusOK, map[string]any{"valid": true})
		return
	}
	def, err := s.Plane.LabelDefinition(r.Context(), sess.Token, key)
	if err != nil {
		status, pe := s.apiError(r, err)
		writeError(w, status, pe)
		return
	}
	schema, _ := def.SchemaText()
	if def == nil || schema == "" {
		writeJSON(w, http.StatusOK, map[string]any{"valid": true, "message": "Any value: " + key + " has no schema."})
		return
	}
	compiled, err := schemacheck.Compile(schema)
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"valid": false, "message": err.Error()})
		return
	}
	if err := schemacheck.Check(compiled, labelValue(r.PostFormValue("value"))); err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"valid": false, "message": "Does not satisfy the schema of " + key + ": " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"valid": true, "message": "Satisfies the schema of " + key + "."})
}

func (s *server) pairApplication(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	p, err := s.Plane.PairApplication(r.Context(), sess.Token, r.PathValue("id"))
	if err != nil {
		status, pe := s.apiError(r, err)
		s.applicationPage(w, r, sess, status, pe, applicationView{})
		return
	}
	// Shown once, on this answer: the token is never put in a URL or stored by the Cockpit.
	s.applicationPage(w, r, sess, http.StatusOK, nil, applicationView{Pairing: &p})
}

func (s *server) unregisterApplication(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	err := s.Plane.UnregisterApplication(r.Context(), sess.Token, r.PathValue("id"))
	s.finish(w, r, err, Base+"/applications", func(status int, pe *plane.Error) { s.applicationPage(w, r, sess, status, pe, applicationView{}) })
}

func (s *server) applicationCredentials(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.createCredentials(w, r, sess, plane.ApplicationObject, s.applicationWithCredentials)
}

func (s *server) deleteApplicationCredentials(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.deleteCredentials(w, r, sess, plane.ApplicationObject, Base+"/applications/"+r.PathValue("id"), s.applicationWithCredentials)
}

func (s *server) applicationWithCredentials(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, pe *plane.Error, cc *plane.ClientCredentials) {
	s.applicationPage(w, r, sess, status, pe, applicationView{NewCredentials: cc})
}

func (s *server) addWebhook(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	id := r.PathValue("id")
	form := map[string]string{"webhookURL": strings.TrimSpace(r.PostFormValue("url"))}
	err := s.Plane.AddWebhook(r.Context(), sess.Token, id, r.PostFormValue("type"), form["webhookURL"])
	s.finish(w, r, err, Base+"/applications/"+id, func(status int, pe *plane.Error) {
		s.applicationPage(w, r, sess, status, pe, applicationView{Form: form})
	})
}

func (s *server) deleteWebhook(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	id := r.PathValue("id")
	err := s.Plane.DeleteWebhook(r.Context(), sess.Token, r.PostFormValue("webhookID"))
	s.finish(w, r, err, Base+"/applications/"+id, func(status int, pe *plane.Error) {
		s.applicationPage(w, r, sess, status, pe, applicationView{})
	})
}

// editApplication changes an application's provider, description and health check URL. The integration
// system it belongs to is read again and sent back unchanged, because the Director's update replaces
// every field it takes.
func (s *server) editApplication(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	id := r.PathValue("id")
	form := map[string]string{"providerName": strings.TrimSpace(r.PostFormValue("providerName")),
		"description": strings.TrimSpace(r.PostFormValue("description")), "healthCheckURL": strings.TrimSpace(r.PostFormValue("healthCheckURL"))}
	again := func(status int, pe *plane.Error) {
		s.applicationPage(w, r, sess, status, pe, applicationView{Form: form, Editing: true})
	}
	app, err := s.Plane.Application(r.Context(), sess.Token, id)
	if err == nil && app == nil {
		err = &plane.Error{Code: "NOT_FOUND", Message: "There is no application with this ID in tenant " + sess.Tenant + "."}
	}
	if err == nil {
		err = s.Plane.UpdateApplication(r.Context(), sess.Token, id, plane.ApplicationUpdate{ProviderName: form["providerName"],
			Description: form["description"], HealthCheckURL: form["healthCheckURL"], IntegrationSystemID: app.IntegrationSystemID})
	}
	s.finish(w, r, err, Base+"/applications/"+id, again)
}
