package configuration

import (
	"cmp"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

// Limits keep one configuration well inside what a state store value and a runtime's sidecar can take.
const (
	maxBindings      = 100
	maxMetadataItems = 100 // per binding, plain and secret together
	maxValueBytes    = 64 << 10
	maxScopes        = 100
	maxSelector      = 20
	maxLabelBytes    = 256
	maxStoredBytes   = 1 << 20
	maxProblems      = 10
)

var (
	// Dapr component names must be valid Kubernetes object names; a DNS label keeps them usable as file
	// names too.
	bindingNamePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	metadataPattern    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,127}$`)
	appIDPattern       = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$`)
	// Runtime ids end up inside storage keys, so the alphabet is strict (the Director hands out UUIDs).
	idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
)

// validID reports whether id can be a runtime or configuration id.
func validID(id string) bool { return idPattern.MatchString(id) }

// problems collects what is wrong with an input, so that one answer lists all of it.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	msg := strings.Join(p[:min(len(p), maxProblems)], "; ")
	if len(p) > maxProblems {
		msg += fmt.Sprintf("; and %d more", len(p)-maxProblems)
	}
	return apperr.Invalid("%s", msg)
}

// build checks in and turns it into the next revision's target and bindings. cur is the current revision
// (nil on create); its secret values fill in the secret items written without a value.
func build(in Input, cur *Configuration) (Target, []Binding, error) {
	var p problems
	target := buildTarget(in, &p)
	if in.Rollout != nil {
		if in.RuntimeID != "" {
			p.add("rollout: only a labelSelector configuration rolls out in steps")
		}
		in.Rollout.check(&p)
	}
	if in.AutoRollback && in.RuntimeID == "" {
		p.add("autoRollback: only a configuration for one runtime rolls back on its own; a labelSelector configuration does with a rollout strategy")
	}
	switch in.DriftPolicy {
	case "", DriftCorrect, DriftReport:
	default:
		p.add("driftPolicy: %s or %s", DriftCorrect, DriftReport)
	}
	bindings := make([]Binding, 0, len(in.Bindings))
	if len(in.Bindings) > maxBindings {
		p.add("bindings: at most %d", maxBindings)
	}
	seen := map[string]bool{}
	for i, bi := range in.Bindings {
		where := fmt.Sprintf("bindings[%d]", i)
		if bi.Name != "" {
			where = fmt.Sprintf("binding %q", bi.Name)
		}
		if seen[bi.Name] {
			p.add("%s: the name is used by another binding of this configuration", where)
		}
		seen[bi.Name] = true
		bindings = append(bindings, buildBinding(bi, where, previousSecrets(cur, bi.Name), &p))
	}
	if err := p.err(); err != nil {
		return Target{}, nil, err
	}
	return target, bindings, nil
}

func buildTarget(in Input, p *problems) Target {
	switch {
	case in.RuntimeID != "" && len(in.LabelSelector) > 0:
		p.add("give either runtimeID or labelSelector, not both")
	case in.RuntimeID != "":
		if !validID(in.RuntimeID) {
			p.add("runtimeID %q: use up to 128 letters, digits, '.', '_' or '-'", in.RuntimeID)
		}
		return Target{RuntimeID: in.RuntimeID}
	case len(in.LabelSelector) == 0:
		p.add("give runtimeID or a non-empty labelSelector")
	case len(in.LabelSelector) > maxSelector:
		p.add("labelSelector: at most %d labels", maxSelector)
	}
	sel := slices.Clone(in.LabelSelector)
	keys := map[string]bool{}
	for _, m := range sel {
		switch {
		case m.Key == "" || len(m.Key) > maxLabelBytes || !utf8.ValidString(m.Key):
			p.add("labelSelector: key %q: use 1 to %d bytes of UTF-8", m.Key, maxLabelBytes)
		case keys[m.Key]:
			// Two values for one key would only ever match a list label; say so rather than guess.
			p.add("labelSelector: key %q appears twice", m.Key)
		}
		keys[m.Key] = true
		if len(m.Value) > maxLabelBytes || !utf8.ValidString(m.Value) {
			p.add("labelSelector: value of %q: at most %d bytes of UTF-8", m.Key, maxLabelBytes)
		}
	}
	slices.SortFunc(sel, func(a, b LabelMatch) int { return cmp.Compare(a.Key, b.Key) })
	return Target{LabelSelector: sel}
}

// previousSecrets returns the secret items of the binding called name in cur.
func previousSecrets(cur *Configuration, name string) []NameValue {
	if cur == nil {
		return nil
	}
	for _, b := range cur.Bindings {
		if b.Name == name {
			return b.SecretMetadata
		}
	}
	return nil
}

func buildBinding(in BindingInput, where string, prevSecrets []NameValue, p *problems) Binding {
	b := Binding{Name: in.Name, Type: in.Type}
	if !bindingNamePattern.MatchString(in.Name) {
		p.add("%s: name must be a lower-case DNS label (a-z, 0-9 and '-', at most 63, starting and ending with a letter or digit)", where)
	}
	bt, known := lookupType(in.Type)
	if !known {
		p.add("%s: unknown binding type %q; known types: %s", where, in.Type, typeNames())
	}
	b.Version = bt.Version

	if n := len(in.Metadata) + len(in.SecretMetadata); n > maxMetadataItems {
		p.add("%s: at most %d metadata items, plain and secret together", where, maxMetadataItems)
	}
	// Dapr matches metadata names without regard to case, so "URL" and "url" are the same item.
	names := map[string]string{}
	checkName := func(name, kind string) {
		if !metadataPattern.MatchString(name) {
			p.add("%s: %s name %q: use a letter, then up to 127 letters, digits, '_', '.' or '-'", where, kind, name)
			return
		}
		if prev, dup := names[strings.ToLower(name)]; dup {
			p.add("%s: metadata %q is given twice (as %s)", where, name, prev)
		}
		names[strings.ToLower(name)] = kind
	}
	for _, m := range in.Metadata {
		checkName(m.Name, "metadata")
		if len(m.Value) > maxValueBytes {
			p.add("%s: metadata %q: value longer than %d bytes", where, m.Name, maxValueBytes)
		}
		b.Metadata = append(b.Metadata, NameValue{Name: m.Name, Value: m.Value})
	}
	for _, s := range in.SecretMetadata {
		checkName(s.Name, "secret metadata")
		value, ok := secretValue(s, prevSecrets)
		switch {
		case !ok && s.Value == nil:
			p.add("%s: secret metadata %q: give a value (there is no stored one to keep)", where, s.Name)
		case !ok:
			p.add("%s: secret metadata %q: the value must not be empty", where, s.Name)
		case len(value) > maxValueBytes:
			p.add("%s: secret metadata %q: value longer than %d bytes", where, s.Name, maxValueBytes)
		}
		b.SecretMetadata = append(b.SecretMetadata, NameValue{Name: s.Name, Value: value})
	}
	for _, req := range bt.Required {
		if !hasValue(b, req) {
			p.add("%s: %s requires metadata %q (plain or secret, not empty)", where, in.Type, req)
		}
	}

	if len(in.Scopes) > maxScopes {
		p.add("%s: at most %d scopes", where, maxScopes)
	}
	for _, sc := range in.Scopes {
		if !appIDPattern.MatchString(sc) {
			p.add("%s: scope %q is not a valid app id", where, sc)
		}
	}
	b.Scopes = slices.Compact(slices.Sorted(slices.Values(in.Scopes)))
	if len(b.Scopes) != len(in.Scopes) {
		p.add("%s: scopes name an app id twice", where)
	}

	byName := func(a, b NameValue) int { return cmp.Compare(a.Name, b.Name) }
	slices.SortFunc(b.Metadata, byName)
	slices.SortFunc(b.SecretMetadata, byName)
	return b
}

// secretValue returns the value for a secret item: the given one, or the previous one when none is given.
func secretValue(s SecretInput, prev []NameValue) (string, bool) {
	if s.Value != nil {
		return *s.Value, *s.Value != ""
	}
	i := slices.IndexFunc(prev, func(p NameValue) bool { return p.Name == s.Name })
	if i < 0 {
		return "", false
	}
	return prev[i].Value, true
}

func hasValue(b Binding, name string) bool {
	match := func(m NameValue) bool { return strings.EqualFold(m.Name, name) && m.Value != "" }
	return slices.ContainsFunc(b.Metadata, match) || slices.ContainsFunc(b.SecretMetadata, match)
}

// checkSize refuses a configuration too large to store as one value.
func checkSize(c *Configuration) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode configuration: %w", err)
	}
	if len(raw) > maxStoredBytes {
		return apperr.Invalid("the configuration is %d bytes encoded; at most %d", len(raw), maxStoredBytes)
	}
	return nil
}
