// Package schemacheck compiles the JSON Schemas of label definitions and checks values against them,
// with messages a client can be shown. The Director enforces label definitions with it; the Cockpit checks
// a label's value as it is typed with the very same rules, so the two never disagree.
package schemacheck

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// name names a schema inside the compiler. It is no location: the compiler would make a relative name a
// file path of the server, which messages would then show.
const name = "mem:///schema"

// Compile compiles a standalone schema: a $ref may not reach out to files or the network of the server.
func Compile(schema string) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("schema is not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	if err := c.AddResource(name, doc); err != nil {
		return nil, fmt.Errorf("schema is not a valid JSON Schema: %s", Describe(err))
	}
	s, err := c.Compile(name)
	if err != nil {
		return nil, fmt.Errorf("schema is not a valid JSON Schema: %s", Describe(err))
	}
	return s, nil
}

// Check validates value (decoded JSON) against s; the error, if any, is one line from Describe.
func Check(s *jsonschema.Schema, value any) error {
	if err := s.Validate(value); err != nil {
		return errors.New(Describe(err))
	}
	return nil
}

// noLoader refuses every $ref outside the schema itself.
type noLoader struct{}

func (noLoader) Load(string) (any, error) {
	return nil, errors.New("references outside the schema are not supported")
}

var (
	// failedWith is the header jsonschema puts before a validation error's causes; it names the schema's URL.
	failedWith = regexp.MustCompile(`jsonschema validation failed with '[^']*'`)
	// otherURL catches any location left: a $ref the client wrote, resolved against the schema's name.
	otherURL = regexp.MustCompile(`["']?(file|mem):[^\s'"]*["']?`)
)

// Describe turns a jsonschema error into one line that names no location: neither the server's (a file
// path) nor the schema's internal name. The causes, "at '/path': reason", are what a client can act on.
func Describe(err error) string {
	msg := failedWith.ReplaceAllString(err.Error(), "")
	msg = strings.ReplaceAll(msg, name+"#", "the schema")
	msg = strings.ReplaceAll(msg, name, "the schema")
	msg = otherURL.ReplaceAllString(msg, "a reference")
	var parts []string
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "- "))
		line = strings.TrimSuffix(strings.TrimSpace(line), ":")
		if line != "" {
			parts = append(parts, strings.Join(strings.Fields(line), " "))
		}
	}
	return strings.Join(parts, "; ")
}
