package ui

import (
	"net/http"
	"strings"

	"github.com/mgmtplane/mgmtplane/apps/cockpit/plane"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/session"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// runtimeInstances is how many of a runtime's service instances its page shows; the instances page has
// the rest.
const runtimeInstances = 10

type instancesView struct {
	Page    plane.ServiceInstancePage
	Runtime string
	After   string
	// Denied: the session may not read runtimes, so the System Broker would refuse.
	Denied bool
}

// instances lists the service instances runtimes created through the System Broker, with their bindings:
// the view the Open Service Broker API leaves to each platform.
func (s *server) instances(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	q := r.URL.Query()
	v := instancesView{Runtime: strings.TrimSpace(q.Get("runtime")), After: q.Get("after")}
	status, formErr := http.StatusOK, (*plane.Error)(nil)
	if !sess.Can(identity.ScopeRuntimeRead) {
		v.Denied = true
	} else {
		page, err := s.Plane.ServiceInstances(r.Context(), sess.Token, v.Runtime, PageSize, v.After)
		if err != nil {
			status, formErr = s.apiError(r, err)
		}
		v.Page = page
	}
	s.render(w, r, status, "instances", &view{Title: "Service instances", Nav: "instances", Session: sess, Err: formErr, Data: v})
}
