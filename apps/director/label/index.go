// Package label holds what applications and runtimes share about labels: normalising values, the registry
// indexes that make label filters cost as much as the page they return, the filter grammar, label
// definitions with their JSON Schemas, and scenarios.
package label

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

// ScenariosKey is the label that holds an object's scenarios.
const ScenariosKey = "scenarios"

// DefaultScenario is given to applications registered without scenarios.
const DefaultScenario = "DEFAULT"

// Label keys as Compass accepted them: letters, digits, '_', '-' and '.'.
var keyPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,256}$`)

// ValidKey reports whether key can be a label key.
func ValidKey(key string) bool { return keyPattern.MatchString(key) }

// Normalize returns value as encoding/json would decode it (numbers become float64, lists []any), so that
// equal values compare and hash alike whatever the transport produced.
func Normalize(value any) (any, error) {
	raw, err := json.Marshal(value)
	if err != nil {
		return nil, fmt.Errorf("label value is not JSON: %w", err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// NormalizeAll normalises every label value (see Normalize) into a new map, refusing values that are not
// JSON or are null with an INVALID_INPUT error. Keys are checked later, with the definitions (Validate).
func NormalizeAll(labels map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(labels))
	for k, v := range labels {
		n, err := Normalize(v)
		if err != nil || n == nil {
			return nil, apperr.Invalid("label %q: value must be a non-null JSON value", k)
		}
		out[k] = n
	}
	return out, nil
}

// valueHash names a JSON value inside an index name.
func valueHash(v any) string {
	raw, _ := json.Marshal(v) // map keys are sorted, so equal values give equal bytes
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:8])
}

// Index names. "lk" holds objects with the key, "lv" those whose value equals V, "le" those whose list
// value has an element equal to V.
func keyIndex(key string) string            { return "lk:" + key }
func valueIndex(key string, v any) string   { return "lv:" + key + ":" + valueHash(v) }
func elementIndex(key string, v any) string { return "le:" + key + ":" + valueHash(v) }

// Indexes returns the registry indexes an object with these (normalised) labels belongs to.
func Indexes(labels map[string]any) []string {
	var out []string
	for k, v := range labels {
		out = append(out, keyIndex(k))
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				if isScalar(e) {
					out = append(out, elementIndex(k, e))
				}
			}
		default:
			if isScalar(v) {
				out = append(out, valueIndex(k, v))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, float64, bool:
		return true
	}
	return false
}

// Strings returns the label value as a list of strings, for labels such as scenarios.
func Strings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// StringList converts strings into the normalised form of a list label.
func StringList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
