package ui

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/mgmtplane/mgmtplane/apps/cockpit/plane"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/session"
	"github.com/mgmtplane/mgmtplane/apps/internal/schemacheck"
)

type labelDefView struct {
	Key    string
	Schema string // pretty JSON, "" for none
}

type labelsView struct {
	Defs []labelDefView
	Form map[string]string
}

func (s *server) labelDefinitions(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.labelsPage(w, r, sess, http.StatusOK, nil, nil)
}

func (s *server) labelsPage(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, formErr *plane.Error, form map[string]string) {
	defs, err := s.Plane.LabelDefinitions(r.Context(), sess.Token)
	if err != nil {
		status, formErr = s.apiError(r, err)
	}
	v := labelsView{Form: form}
	for _, d := range defs {
		text, _ := d.SchemaText()
		v.Defs = append(v.Defs, labelDefView{Key: d.Key, Schema: pretty(text)})
	}
	s.render(w, r, status, "labels", &view{Title: "Label definitions", Nav: "labels", Session: sess, Err: formErr, Data: v})
}

func pretty(schema string) string {
	var v any
	if schema == "" || json.Unmarshal([]byte(schema), &v) != nil {
		return schema
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// saveLabelDefinition creates or replaces a definition; the schema must compile, which the form also
// says while it is typed (checkSchema).
func (s *server) saveLabelDefinition(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	form := map[string]string{"key": strings.TrimSpace(r.PostFormValue("key")), "schema": strings.TrimSpace(r.PostFormValue("schema"))}
	update := r.PostFormValue("update") == "true"
	if form["schema"] != "" {
		if _, err := schemacheck.Compile(form["schema"]); err != nil {
			s.labelsPage(w, r, sess, http.StatusBadRequest, &plane.Error{Code: "INVALID_INPUT", Message: err.Error(), RequestID: requestID(r)}, form)
			return
		}
	}
	err := s.Plane.SaveLabelDefinition(r.Context(), sess.Token, form["key"], form["schema"], update)
	s.finish(w, r, err, Base+"/labels", func(status int, pe *plane.Error) { s.labelsPage(w, r, sess, status, pe, form) })
}

func (s *server) deleteLabelDefinition(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	err := s.Plane.DeleteLabelDefinition(r.Context(), sess.Token, r.PostFormValue("key"), r.PostFormValue("withLabels") == "true")
	s.finish(w, r, err, Base+"/labels", func(status int, pe *plane.Error) { s.labelsPage(w, r, sess, status, pe, nil) })
}

// checkSchema answers whether a JSON Schema compiles, for the definition form to say so as it is typed.
func (s *server) checkSchema(w http.ResponseWriter, r *http.Request, _ *session.Session) {
	schema := strings.TrimSpace(r.PostFormValue("schema"))
	if schema == "" {
		writeJSON(w, http.StatusOK, map[string]any{"valid": true, "message": "No schema: any value goes."})
		return
	}
	if _, err := schemacheck.Compile(schema); err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"valid": false, "message": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"valid": true, "message": "A valid JSON Schema."})
}

// scenarioRow is a scenario with how many objects are in it and its automatic assignment, if any.
type scenarioRow struct {
	Name           string
	Apps, Runtimes int
	Assignment     *plane.Assignment
}

type scenariosView struct {
	Scenarios []scenarioRow
	// CountErr says why the counts could not be read.
	CountErr *plane.Error
}

// maxScenarioCounts caps the per-scenario count queries one page makes.
const maxScenarioCounts = 50

// scenarios are the enum of the scenarios label definition, as in Compass.
func (s *server) scenarios(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.scenariosPage(w, r, sess, http.StatusOK, nil)
}

func (s *server) scenariosPage(w http.ResponseWriter, r *http.Request, sess *session.Session, status int, formErr *plane.Error) {
	names, _, err := s.scenarioNames(r, sess)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	asas, err := s.Plane.Assignments(r.Context(), sess.Token)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	var v scenariosView
	for i, n := range names {
		row := scenarioRow{Name: n}
		if i < maxScenarioCounts && v.CountErr == nil {
			if row.Apps, row.Runtimes, err = s.Plane.CountWithScenario(r.Context(), sess.Token, n); err != nil {
				_, v.CountErr = s.apiError(r, err)
			}
		}
		for j := range asas {
			if asas[j].Scenario == n {
				row.Assignment = &asas[j]
			}
		}
		v.Scenarios = append(v.Scenarios, row)
	}
	s.render(w, r, status, "scenarios", &view{Title: "Scenarios", Nav: "scenarios", Session: sess, Err: formErr, Data: v})
}

// scenarioNames reads the scenarios label definition: its names, and the schema they sit in (nil when
// the tenant has no definition yet).
func (s *server) scenarioNames(r *http.Request, sess *session.Session) ([]string, map[string]any, error) {
	def, err := s.Plane.LabelDefinition(r.Context(), sess.Token, "scenarios")
	if err != nil || def == nil {
		return nil, nil, err
	}
	text, _ := def.SchemaText()
	var schema map[string]any
	if json.Unmarshal([]byte(text), &schema) != nil {
		return nil, nil, nil
	}
	items, _ := schema["items"].(map[string]any)
	enum, _ := items["enum"].([]any)
	var names []string
	for _, e := range enum {
		if n, ok := e.(string); ok {
			names = append(names, n)
		}
	}
	return names, schema, nil
}

// addScenario adds a name to the scenarios definition's enum, keeping the rest of its schema.
func (s *server) addScenario(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	s.changeScenarios(w, r, sess, func(names []string) ([]string, error) {
		if name == "" || slices.Contains(names, name) {
			return nil, errors.New("give a scenario name that is not there yet")
		}
		return append(names, name), nil
	})
}

func (s *server) removeScenario(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	name := r.PostFormValue("name")
	s.changeScenarios(w, r, sess, func(names []string) ([]string, error) {
		return slices.DeleteFunc(names, func(n string) bool { return n == name }), nil
	})
}

func (s *server) changeScenarios(w http.ResponseWriter, r *http.Request, sess *session.Session, change func([]string) ([]string, error)) {
	names, schema, err := s.scenarioNames(r, sess)
	if err != nil {
		status, pe := s.apiError(r, err)
		s.scenariosPage(w, r, sess, status, pe)
		return
	}
	next, err := change(names)
	if err != nil {
		s.scenariosPage(w, r, sess, http.StatusBadRequest, &plane.Error{Code: "INVALID_INPUT", Message: err.Error(), RequestID: requestID(r)})
		return
	}
	update := schema != nil
	if schema == nil {
		schema = map[string]any{"type": "array", "minItems": 1, "uniqueItems": true, "items": map[string]any{"type": "string"}}
	}
	items, _ := schema["items"].(map[string]any)
	if items == nil {
		items = map[string]any{"type": "string"}
		schema["items"] = items
	}
	items["enum"] = next
	raw, _ := json.Marshal(schema)
	s.afterScenarios(w, r, sess, s.Plane.SaveLabelDefinition(r.Context(), sess.Token, "scenarios", string(raw), update))
}

func (s *server) assignScenario(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	err := s.Plane.Assign(r.Context(), sess.Token, r.PostFormValue("scenario"), strings.TrimSpace(r.PostFormValue("key")), strings.TrimSpace(r.PostFormValue("value")))
	s.afterScenarios(w, r, sess, err)
}

func (s *server) unassignScenario(w http.ResponseWriter, r *http.Request, sess *session.Session) {
	s.afterScenarios(w, r, sess, s.Plane.Unassign(r.Context(), sess.Token, r.PostFormValue("scenario")))
}

func (s *server) afterScenarios(w http.ResponseWriter, r *http.Request, sess *session.Session, err error) {
	s.finish(w, r, err, Base+"/scenarios", func(status int, pe *plane.Error) { s.scenariosPage(w, r, sess, status, pe) })
}
