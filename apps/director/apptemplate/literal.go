package apptemplate

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
)

// A template keeps its application input as JSON (fill decodes it after substituting the values), but
// clients read it as Compass wrote it: the GraphQL literal of an ApplicationRegisterInput, which, with the
// placeholders filled in, is what registerApplication(in: ...) accepts.

// present returns t as clients see it: its application input as a GraphQL literal.
func present(t *model.ApplicationTemplate) (*model.ApplicationTemplate, error) {
	var in model.ApplicationRegisterInput
	if err := json.Unmarshal([]byte(t.ApplicationInput), &in); err != nil {
		return nil, fmt.Errorf("decode application input of template %q: %w", t.Name, err)
	}
	out := *t
	out.ApplicationInput = literal(reflect.ValueOf(in))
	return &out, nil
}

var graphqlName = regexp.MustCompile(`^[_A-Za-z][_0-9A-Za-z]*$`)

// literal writes v as a GraphQL input value: input objects by their JSON field names (absent fields left
// out), enums bare, strings quoted, and the free-form scalars (labels, headers) as object literals.
func literal(v reflect.Value) string {
	if v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "null"
		}
		return literal(v.Elem())
	}
	switch v.Kind() {
	case reflect.Struct:
		var fields []string
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "" || name == "-" || absent(v.Field(i)) {
				continue
			}
			// Header and query parameter names are seldom GraphQL names ("X-Tenant"); their inputs have a
			// serialized twin, a JSON string, which takes any name.
			if _, twin := v.Type().FieldByName(f.Name + "Serialized"); twin && f.Type.Kind() == reflect.Map && !namesOnly(v.Field(i)) {
				raw, err := json.Marshal(v.Field(i).Interface())
				if err == nil {
					fields = append(fields, name+"Serialized: "+quote(string(raw)))
					continue
				}
			}
			fields = append(fields, name+": "+literal(v.Field(i)))
		}
		return "{" + strings.Join(fields, ", ") + "}"
	case reflect.Slice, reflect.Array:
		items := make([]string, v.Len())
		for i := range items {
			items[i] = literal(v.Index(i))
		}
		return "[" + strings.Join(items, ", ") + "]"
	case reflect.Map:
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		slices.Sort(keys)
		fields := make([]string, len(keys))
		for i, k := range keys {
			name := k
			if !graphqlName.MatchString(k) {
				// Not expressible as a GraphQL object field name; quoted, a reader at least sees the key.
				name = quote(k)
			}
			fields[i] = name + ": " + literal(v.MapIndex(reflect.ValueOf(k)))
		}
		return "{" + strings.Join(fields, ", ") + "}"
	case reflect.String:
		if _, enum := v.Type().MethodByName("IsValid"); enum {
			return v.String()
		}
		return quote(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'f', -1, 64)
	default:
		return quote(fmt.Sprint(v.Interface()))
	}
}

// namesOnly reports whether every key of map m is a GraphQL name, so that m can be an object literal.
func namesOnly(m reflect.Value) bool {
	for _, k := range m.MapKeys() {
		if !graphqlName.MatchString(k.String()) {
			return false
		}
	}
	return true
}

// absent reports a field the input leaves out.
func absent(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
		return v.IsNil()
	}
	return false
}

// quote writes s as a GraphQL string; JSON's escapes are GraphQL's.
func quote(s string) string {
	q, err := encode(s)
	if err != nil {
		return `""`
	}
	return q
}
