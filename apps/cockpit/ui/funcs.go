package ui

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/cockpit/plane"
)

var funcs = template.FuncMap{
	"since": since,
	"json":  toJSON,
	"keys":  sortedKeys,
	"base":  func() string { return Base },
	// instanceRows feeds the "instance-table" template; the runtime column is left out on a runtime's page.
	"instanceRows": func(rows []plane.ServiceInstance, showRuntime bool) map[string]any {
		return map[string]any{"Rows": rows, "ShowRuntime": showRuntime}
	},
	"rolloutAction": func(v *view, id, action, label string) map[string]any {
		return map[string]any{"View": v, "ID": id, "Action": action, "Label": label}
	},
	"credentials": func(v *view, c *credentialsView) map[string]any { return map[string]any{"View": v, "C": c} },
	"bindingForm": func(v *view, legend string, types any, form map[string]string) map[string]any {
		return map[string]any{"View": v, "Legend": legend, "Types": types, "Form": form}
	},
	"labelsOf": func(v *view, labels map[string]any, path, scope string, form map[string]string) labelsArg {
		return labelsArg{View: v, Labels: labels, Path: path, Scope: scope, Form: form}
	},
	"time":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"lower": strings.ToLower,
}

// since says how long ago t was, in the largest whole unit.
func since(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// labelsArg is what the labels table and form of an application or runtime page need.
type labelsArg struct {
	View   *view
	Labels map[string]any
	// Path is the object's page; Scope the scope that changing its labels takes.
	Path, Scope string
	Form        map[string]string
}
