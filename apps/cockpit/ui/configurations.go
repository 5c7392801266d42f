package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/mgmtplane/mgmtplane/apps/cockpit/plane"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/session"
)

func (s *server) configurations(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	form := map[string]string{"runtimeID": r.URL.Query().Get("runtime")}
	s.configurationList(w, r, sess, http.StatusOK, nil, form)
}

type configurationsView struct {
	listView[plane.ConfigurationPage]
	Types []plane.BindingType
}

func (s *server) configurationList(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, formErr *plane.Error, form map[string]string) {
	after := r.URL.Query().Get("after")
	page, err := s.Plane.Configurations(r.Context(), sess.Token, PageSize, after)
	if err != nil {
		status, formErr = s.apiError(r, err)
	}
	types, _ := s.Plane.BindingTypes(r.Context(), sess.Token)
	ids := make([]string, 0, len(page.Data))
	for _, c := range page.Data {
		ids = append(ids, c.ID)
	}
	s.render(w, r, status, "configurations", &view{Title: "Configurations", Nav: "configurations", Session: sess, Err: formErr,
		Live: watch(sess, ids...), Data: configurationsView{listView: listView[plane.ConfigurationPage]{Page: page, After: after, Form: form}, Types: types}})
}

// bindingForm reads a binding from the form: metadata and secret metadata one `name=value` per line;
// a secret line with a name only keeps the value stored under that name.
func bindingForm(r *http.Request) (plane.Binding, map[string]string, error) {
	form := map[string]string{}
	for _, k := range []string{"name", "type", "metadata", "scopes"} {
		form[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	b := plane.Binding{Name: form["name"], Type: form["type"], Scopes: strings.Fields(form["scopes"]),
		Metadata: []plane.MetadataItem{}, SecretMetadata: []plane.MetadataItem{}}
	var errs []error
	for i, line := range lines(form["metadata"]) {
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			errs = append(errs, fmt.Errorf("metadata line %d: write name=value", i+1))
			continue
		}
		b.Metadata = append(b.Metadata, plane.MetadataItem{Name: strings.TrimSpace(k), Value: strings.TrimSpace(v)})
	}
	// Secret values are never put back into the form: what was typed is sent once and forgotten.
	for i, line := range lines(r.PostFormValue("secretMetadata")) {
		k, v, _ := strings.Cut(line, "=")
		if strings.TrimSpace(k) == "" {
			errs = append(errs, fmt.Errorf("secret metadata line %d: write name=value, or the name alone to keep its value", i+1))
			continue
		}
		b.SecretMetadata = append(b.SecretMetadata, plane.MetadataItem{Name: strings.TrimSpace(k), Value: strings.TrimSpace(v)})
	}
	return b, form, errors.Join(errs...)
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// parseSelector reads `key=value` terms, all of which a runtime's labels must match.
func parseSelector(s string) ([]plane.LabelMatch, error) {
	var out []plane.LabelMatch
	for _, term := range strings.Fields(s) {
		k, v, ok := strings.Cut(term, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("selector term %q: write key=value", term)
		}
		out = append(out, plane.LabelMatch{Key: k, Value: v})
	}
	return out, nil
}

func (s *server) createConfiguration(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	b, form, err := bindingForm(r)
	form["target"], form["runtimeID"], form["selector"] = r.PostFormValue("target"), strings.TrimSpace(r.PostFormValue("runtimeID")), strings.TrimSpace(r.PostFormValue("selector"))
	form["driftPolicy"], form["autoRollback"] = r.PostFormValue("driftPolicy"), r.PostFormValue("autoRollback")
	in := plane.ConfigurationInput{Bindings: []plane.Binding{b}}
	switch form["driftPolicy"] {
	case "", "CORRECT", "REPORT":
		in.DriftPolicy = form["driftPolicy"]
	default:
		err = errors.Join(err, fmt.Errorf("drift policy: CORRECT or REPORT"))
	}
	if form["target"] == "selector" {
		sel, serr := parseSelector(form["selector"])
		strategy, rerr := strategyForm(r, form)
		err = errors.Join(err, serr, rerr)
		in.LabelSelector, in.Rollout = sel, strategy
	} else {
		in.RuntimeID, in.AutoRollback = form["runtimeID"], form["autoRollback"] == "on"
	}
	if err != nil {
		s.configurationList(w, r, sess, http.StatusBadRequest, &plane.Error{Code: "INVALID_INPUT", Message: err.Error(), RequestID: requestID(r)}, form)
		return
	}
	id, err := s.Plane.CreateConfiguration(r.Context(), sess.Token, in)
	if err != nil {
		status, pe := s.apiError(r, err)
		s.configurationList(w, r, sess, status, pe, form)
		return
	}
	http.Redirect(w, r, Base+"/configurations/"+id, http.StatusSeeOther)
}

// strategyForm reads the rollout fields of the new-configuration form: none filled in means at once.
func strategyForm(r *http.Request, form map[string]string) (*plane.RolloutStrategy, error) {
	var st plane.RolloutStrategy
	given := false
	num := func(name string, dst **int) error {
		v := strings.TrimSpace(r.PostFormValue(name))
		form[name] = v
		if v == "" {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("%s: a whole number", name)
		}
		*dst, given = &n, true
		return nil
	}
	var soak, budget *int
	err := errors.Join(num("canaryCount", &st.CanaryCount), num("batchSize", &st.BatchSize),
		num("soakSeconds", &soak), num("failureBudget", &budget))
	if err != nil || !given {
		return nil, err
	}
	st.SoakSeconds, st.FailureBudget, st.StepTimeoutSeconds = 60, 0, 600
	if soak != nil {
		st.SoakSeconds = *soak
	}
	if budget != nil {
		st.FailureBudget = *budget
	}
	return &st, nil
}

// configurationView is a configuration's page: its current revision, its history and, when asked, the
// difference between a revision and the current one.
type configurationView struct {
	Config    *plane.Configuration
	Revisions []plane.Configuration
	More      bool
	DiffFrom  int
	Diff      string
	Types     []plane.BindingType
	Form      map[string]string
	// Rollout is the staged rollout of the latest revision, if it has one.
	Rollout    *plane.Rollout
	RolloutErr *plane.Error
}

func (s *server) configuration(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.configurationPage(w, r, sess, http.StatusOK, nil, nil)
}

func (s *server) configurationPage(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, formErr *plane.Error, form map[string]string) {
	id := r.PathValue("id")
	cfg, err := s.Plane.Configuration(r.Context(), sess.Token, id)
	if err == nil && cfg == nil {
		err = &plane.Error{Code: "NOT_FOUND", Message: "There is no configuration with this ID in tenant " + sess.Tenant + "."}
	}
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	// The newest revisions are the ones worth seeing: page to the end of the history (oldest first).
	var revs []plane.Configuration
	more, after := false, ""
	for range 20 {
		page, err := s.Plane.Revisions(r.Context(), sess.Token, id, 200, after)
		if err != nil {
			s.failAPI(w, r, err)
			return
		}
		revs = append(revs, page.Data...)
		if !page.PageInfo.HasNextPage {
			break
		}
		after, more = page.PageInfo.EndCursor, true
	}
	if len(revs) > PageSize {
		revs, more = revs[len(revs)-PageSize:], true
	}
	slices.Reverse(revs)
	v := configurationView{Config: cfg, Revisions: revs, More: more, Form: form}
	v.Types, _ = s.Plane.BindingTypes(r.Context(), sess.Token)
	watched := []string{id}
	if len(cfg.LabelSelector) > 0 {
		if v.Rollout, err = s.Plane.Rollout(r.Context(), sess.Token, id); err != nil {
			_, v.RolloutErr = s.apiError(r, err)
		}
		if v.Rollout != nil {
			for _, rt := range v.Rollout.Runtimes {
				if len(watched) < 200 {
					watched = append(watched, rt.RuntimeID)
				}
			}
		}
	}
	if from, err := strconv.Atoi(r.URL.Query().Get("diff")); err == nil {
		for _, rev := range revs {
			if rev.Revision == from {
				v.DiffFrom, v.Diff = from, diff(rev, *cfg)
			}
		}
	}
	s.render(w, r, status, "configuration", &view{Title: "Configuration " + id, Nav: "configurations", Session: sess,
		Err: formErr, Live: watch(sess, watched...), Data: v})
}

// describe writes a revision as lines for a diff; secret values never appear, only their names.
func describe(c plane.Configuration) []string {
	var out []string
	if c.RuntimeID != "" {
		out = append(out, "target: runtime "+c.RuntimeID)
	} else {
		var terms []string
		for _, m := range c.LabelSelector {
			terms = append(terms, m.Key+"="+m.Value)
		}
		out = append(out, "target: runtimes with "+strings.Join(terms, " "))
	}
	if c.Deleted {
		out = append(out, "deleted")
	}
	for _, b := range c.Bindings {
		out = append(out, fmt.Sprintf("binding %s (%s)", b.Name, b.Type))
		for _, m := range b.Metadata {
			out = append(out, fmt.Sprintf("  %s = %s", m.Name, m.Value))
		}
		for _, m := range b.SecretMetadata {
			out = append(out, fmt.Sprintf("  %s = (secret)", m.Name))
		}
		if len(b.Scopes) > 0 {
			out = append(out, "  scopes: "+strings.Join(b.Scopes, " "))
		}
	}
	return out
}

func diff(from, to plane.Configuration) string {
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(strings.Join(describe(from), "\n") + "\n"), B: difflib.SplitLines(strings.Join(describe(to), "\n") + "\n"),
		FromFile: fmt.Sprintf("revision %d", from.Revision), ToFile: fmt.Sprintf("revision %d (current)", to.Revision), Context: 3,
	})
	if err != nil || text == "" {
		return "No difference."
	}
	return text
}

// putBinding adds a binding to the configuration, replacing the one of the same name, as a new revision.
// The other bindings go back without their secret values, which keeps them.
func (s *server) putBinding(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	b, form, err := bindingForm(r)
	if err != nil {
		s.configurationPage(w, r, sess, http.StatusBadRequest, &plane.Error{Code: "INVALID_INPUT", Message: err.Error(), RequestID: requestID(r)}, form)
		return
	}
	s.rewrite(w, r, sess, form, func(bs []plane.Binding) []plane.Binding {
		bs = slices.DeleteFunc(bs, func(x plane.Binding) bool { return x.Name == b.Name })
		return append(bs, b)
	})
}

func (s *server) removeBinding(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	name := r.PostFormValue("name")
	s.rewrite(w, r, sess, nil, func(bs []plane.Binding) []plane.Binding {
		return slices.DeleteFunc(bs, func(x plane.Binding) bool { return x.Name == name })
	})
}

func (s *server) rewrite(w http.ResponseWriter, r *http.Request, sess *session.Session, form map[string]string, change func([]plane.Binding) []plane.Binding) {
	id := r.PathValue("id")
	cfg, err := s.Plane.Configuration(r.Context(), sess.Token, id)
	if err == nil && cfg == nil {
		err = &plane.Error{Code: "NOT_FOUND", Message: "There is no configuration with this ID."}
	}
	if err == nil {
		in := plane.ConfigurationInput{RuntimeID: cfg.RuntimeID, LabelSelector: cfg.LabelSelector, Bindings: change(cfg.Bindings),
			Rollout: cfg.RolloutStrategy, DriftPolicy: cfg.DriftPolicy, AutoRollback: cfg.AutoRollback}
		err = s.Plane.UpdateConfiguration(r.Context(), sess.Token, id, in)
	}
	s.finish(w, r, err, Base+"/configurations/"+id, s.configurationAgain(w, r, sess, form))
}

func (s *server) rollbackConfiguration(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	id := r.PathValue("id")
	rev, err := strconv.Atoi(r.PostFormValue("revision"))
	if err == nil {
		err = s.Plane.Rollback(r.Context(), sess.Token, id, rev)
	} else {
		err = &plane.Error{Code: "INVALID_INPUT", Message: "revision: a number"}
	}
	s.finish(w, r, err, Base+"/configurations/"+id, s.configurationAgain(w, r, sess, nil))
}

func (s *server) deleteConfiguration(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	id := r.PathValue("id")
	s.finish(w, r, s.Plane.DeleteConfiguration(r.Context(), sess.Token, id), Base+"/configurations/"+id, s.configurationAgain(w, r, sess, nil))
}

// configurationAgain shows the configuration's page again after a form on it failed.
func (s *server) configurationAgain(w http.ResponseWriter, r *http.Request, sess *session.Session, form map[string]string) func(int, *plane.Error) {
	return func(status int, pe *plane.Error) { s.configurationPage(w, r, sess, status, pe, form) }
}

// selectorScan caps how many runtimes a selector preview reads.
const selectorScan = 1000

// checkSelector answers how many runtimes a label selector matches now, for the configuration form to
// say so before it is saved. It asks the Director for the runtimes carrying every key and matches the
// values as the Governor does: equal, or held by a list.
func (s *server) checkSelector(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	sel, err := parseSelector(r.PostFormValue("selector"))
	if err != nil || len(sel) == 0 {
		msg := "Write key=value terms."
		if err != nil {
			msg = err.Error()
		}
		writeJSON(w, http.StatusOK, map[string]any{"valid": false, "message": msg})
		return
	}
	filters := make([]plane.LabelFilter, 0, len(sel))
	for _, m := range sel {
		filters = append(filters, plane.LabelFilter{Key: m.Key})
	}
	n, scanned, after := 0, 0, ""
	for scanned < selectorScan {
		page, err := s.Plane.Runtimes(r.Context(), sess.Token, filters, 200, after, false)
		if err != nil {
			status, pe := s.apiError(r, err)
			writeError(w, status, pe)
			return
		}
		for _, rt := range page.Data {
			if matches(rt.Labels, sel) {
				n++
			}
		}
		scanned += len(page.Data)
		if !page.PageInfo.HasNextPage {
			writeJSON(w, http.StatusOK, map[string]any{"valid": true, "count": n,
				"message": fmt.Sprintf("This selector matches %d runtime%s now.", n, plural(n))})
			return
		}
		after = page.PageInfo.EndCursor
	}
	writeJSON(w, http.StatusOK, map[string]any{"valid": true, "count": n,
		"message": fmt.Sprintf("This selector matches at least %d runtimes (the first %d with its keys were read).", n, scanned)})
}

// matches is the Governor's rule: every label equals its value in JSON form, or is a list holding it.
func matches(labels map[string]any, sel []plane.LabelMatch) bool {
	for _, m := range sel {
		v, ok := labels[m.Key]
		if !ok || !valueMatches(v, m.Value) {
			return false
		}
	}
	return true
}

func valueMatches(v any, want string) bool {
	if list, ok := v.([]any); ok {
		return slices.ContainsFunc(list, func(x any) bool { return valueMatches(x, want) })
	}
	if s, ok := v.(string); ok {
		return s == want
	}
	b, _ := json.Marshal(v)
	return string(b) == want
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// actOnRollout pauses, resumes, promotes or aborts the configuration's rollout.
func (s *server) actOnRollout(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	id := r.PathValue("id")
	err := s.Plane.ActOnRollout(r.Context(), sess.Token, id, plane.RolloutAction(r.PostFormValue("action")))
	s.finish(w, r, err, Base+"/configurations/"+id, s.configurationAgain(w, r, sess, nil))
}
