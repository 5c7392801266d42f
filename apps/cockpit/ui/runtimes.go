package ui

import (
	"net/http"
	"strings"

	"github.com/mgmtplane/mgmtplane/apps/cockpit/plane"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/session"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

func (s *server) runtimes(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.runtimeList(w, r, sess, http.StatusOK, nil, nil)
}

func (s *server) runtimeList(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, formErr *plane.Error, form map[string]string) {
	q := r.URL.Query()
	filter, after := q.Get("filter"), q.Get("after")
	page, err := s.Plane.Runtimes(r.Context(), sess.Token, plane.ParseFilter(filter), PageSize, after, true)
	if err != nil {
		status, formErr = s.apiError(r, err)
	}
	ids := make([]string, 0, len(page.Data))
	for _, rt := range page.Data {
		ids = append(ids, rt.ID)
	}
	s.render(w, r, status, "runtimes", &view{Title: "Runtimes", Nav: "runtimes", Session: sess, Err: formErr,
		Live: watch(sess, ids...), Data: listView[plane.RuntimePage]{Page: page, Filter: filter, After: after, Form: form}})
}

// provisionRuntime starts provisioning a runtime on the plane's machine (the Provisioner's local
// backend) and opens its page, where the operation's progress shows as it happens.
func (s *server) provisionRuntime(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	form := map[string]string{"name": strings.TrimSpace(r.PostFormValue("name")), "description": strings.TrimSpace(r.PostFormValue("description"))}
	op, err := s.Plane.ProvisionLocal(r.Context(), sess.Token, plane.LocalRuntimeInput{Name: form["name"], Description: form["description"]})
	if err != nil {
		status, pe := s.apiError(r, err)
		s.runtimeList(w, r, sess, status, pe, form)
		return
	}
	http.Redirect(w, r, Base+"/runtimes/"+op.RuntimeID, http.StatusSeeOther)
}

// runtimeView is the runtime page: the runtime as the Director knows it, and the Provisioner's operations
// on it (none for a runtime registered some other way).
type runtimeView struct {
	Runtime    *plane.Runtime
	Operations []plane.Operation
	// OpsErr says why the operations could not be read; the rest of the page still shows.
	OpsErr *plane.Error
	// Config is what the Governor says the runtime should run and what its agent reported.
	Config      *plane.RuntimeConfig
	ConfigErr   *plane.Error
	Credentials *credentialsView
	// Pairing is a one-time token just issued for the runtime's agent, shown once.
	Pairing *plane.Pairing
	Form    map[string]string
	// Instances are the first service instances the runtime created through the System Broker.
	Instances    *plane.ServiceInstancePage
	InstancesErr *plane.Error
}

func (s *server) runtime(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.runtimePage(w, r, sess, http.StatusOK, nil, nil)
}

func (s *server) runtimePage(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, formErr *plane.Error, form map[string]string) {
	s.runtimePageWith(w, r, sess, status, formErr, runtimeView{Form: form})
}

func (s *server) runtimePageWith(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, formErr *plane.Error, v runtimeView) {
	id := r.PathValue("id")
	rt, err := s.Plane.Runtime(r.Context(), sess.Token, id)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	v.Runtime = rt
	if rt != nil {
		created := v.Credentials
		v.Credentials = s.credentialsOf(r, sess, plane.RuntimeObject, id, Base+"/runtimes/"+id, "runtime:write")
		if created != nil {
			v.Credentials.New = created.New
		}
	}
	if sess.Can(identity.ScopeRuntimeRead) {
		if v.Operations, err = s.Plane.Operations(r.Context(), sess.Token, id); err != nil {
			_, v.OpsErr = s.apiError(r, err)
		}
		if rt != nil {
			page, err := s.Plane.ServiceInstances(r.Context(), sess.Token, id, runtimeInstances, "")
			if err != nil {
				_, v.InstancesErr = s.apiError(r, err)
			} else {
				v.Instances = &page
			}
		}
	}
	watched := []string{id}
	if rt != nil && sess.Can(identity.ScopeConfigurationRead) {
		rc, err := s.Plane.RuntimeConfiguration(r.Context(), sess.Token, id)
		if err != nil {
			_, v.ConfigErr = s.apiError(r, err)
		} else {
			v.Config = &rc
			for _, src := range rc.Sources {
				watched = append(watched, src.ConfigurationID)
			}
		}
	}
	if rt == nil && len(v.Operations) == 0 {
		s.fail(w, r, http.StatusNotFound, &plane.Error{Code: "NOT_FOUND", Message: "There is no runtime with this ID in tenant " + sess.Tenant + "."})
		return
	}
	title := id
	if rt != nil {
		title = rt.Name
	}
	s.render(w, r, status, "runtime", &view{Title: title, Nav: "runtimes", Session: sess, Err: formErr,
		Live: watch(sess, watched...), Data: v})
}

func (s *server) setRuntimeLabel(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.setLabel(w, r, sess, plane.RuntimeObject, s.runtimeAgain)
}

func (s *server) deleteRuntimeLabel(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.deleteLabel(w, r, sess, plane.RuntimeObject, s.runtimeAgain)
}

func (s *server) runtimeAgain(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, pe *plane.Error, form map[string]string) {
	s.runtimePage(w, r, sess, status, pe, form)
}

func (s *server) deprovisionRuntime(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	_, err := s.Plane.Deprovision(r.Context(), sess.Token, r.PathValue("id"))
	s.finish(w, r, err, Base+"/runtimes/"+r.PathValue("id"), func(status int, pe *plane.Error) { s.runtimePage(w, r, sess, status, pe, nil) })
}

func (s *server) runtimeCredentials(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.createCredentials(w, r, sess, plane.RuntimeObject, s.runtimeWithCredentials)
}

func (s *server) deleteRuntimeCredentials(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.deleteCredentials(w, r, sess, plane.RuntimeObject, Base+"/runtimes/"+r.PathValue("id"), s.runtimeWithCredentials)
}

func (s *server) runtimeWithCredentials(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, pe *plane.Error, cc *plane.ClientCredentials) {
	s.runtimePageWith(w, r, sess, status, pe, runtimeView{Credentials: &credentialsView{New: cc}})
}

// pairRuntime issues a one-time token for the runtime's agent (to pair a runtime registered by hand, or
// one whose agent must pair again) and shows it once.
func (s *server) pairRuntime(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	p, err := s.Plane.PairRuntime(r.Context(), sess.Token, r.PathValue("id"))
	if err != nil {
		status, pe := s.apiError(r, err)
		s.runtimePage(w, r, sess, status, pe, nil)
		return
	}
	s.runtimePageWith(w, r, sess, http.StatusOK, nil, runtimeView{Pairing: &p})
}
