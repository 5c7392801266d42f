// Package render turns what applications register — Markdown documents, OpenAPI and AsyncAPI
// specifications — into something a person can read on a page, without running any of it.
//
// The text comes from applications, not from the plane's operators, so nothing here may let it run
// script in the Cockpit's origin: Markdown is rendered with raw HTML dropped and unsafe link schemes
// refused (goldmark's defaults), and specifications are only read for an outline, never rendered as HTML.
package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"gopkg.in/yaml.v3"
)

// maxSource is the most text rendered or outlined; the Director accepts larger CLOBs, and a page is not
// the place to read them.
const maxSource = 2 << 20

var markdown = goldmark.New(goldmark.WithExtensions(extension.GFM))

// Markdown renders a document as HTML. goldmark leaves raw HTML out and refuses javascript:, vbscript:,
// file: and data: links other than images unless told otherwise, which it is not.
func Markdown(src string) (template.HTML, error) {
	if len(src) > maxSource {
		return "", fmt.Errorf("the document is %d bytes; the Cockpit renders at most %d", len(src), maxSource)
	}
	var buf bytes.Buffer
	if err := markdown.Convert([]byte(src), &buf); err != nil {
		return "", fmt.Errorf("render markdown: %w", err)
	}
	// The renderer's output is safe by construction (see above), so it may be trusted as HTML.
	return template.HTML(buf.String()), nil //nolint:gosec // goldmark without html.WithUnsafe
}

// Outline is what a specification offers, read from its text.
type Outline struct {
	Title   string
	Version string
	// Spec names the specification language and its version, e.g. "OpenAPI 3.0.3" or "AsyncAPI 2.6.0".
	Spec    string
	Servers []string
	// Operations are an OpenAPI specification's paths and methods.
	Operations []Operation
	// Channels are an AsyncAPI specification's channels.
	Channels []Channel
}

// Operation is one method on one path of an API.
type Operation struct {
	Method, Path, Summary, ID string
	Deprecated                bool
}

// Channel is one AsyncAPI channel and what an application does on it.
type Channel struct {
	Name, Description string
	// Actions are "publish"/"subscribe" (AsyncAPI 2) or "send"/"receive" (AsyncAPI 3), each with the
	// message names or summaries it carries.
	Actions []string
}

// methods are the OpenAPI operation keys of a path item, in the order people expect to read them.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Outlines reads an OpenAPI (2 or 3) or AsyncAPI (2 or 3) specification in JSON or YAML. It answers nil,
// nil for a specification it does not outline (OData, XML): the page shows the text alone.
func Outlines(specType, specFormat, data string) (*Outline, error) {
	if specFormat == "XML" || (specType != "OPEN_API" && specType != "ASYNC_API") {
		return nil, nil
	}
	if len(data) > maxSource {
		return nil, fmt.Errorf("the specification is %d bytes; the Cockpit outlines at most %d", len(data), maxSource)
	}
	// YAML is a superset of JSON, so one decoder reads both; node order is kept for paths and channels.
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(data), &doc); err != nil {
		return nil, fmt.Errorf("read the specification as %s: %w", strings.ToLower(specFormat), err)
	}
	root := mapping(&doc)
	if root == nil {
		return nil, fmt.Errorf("the specification is not an object")
	}
	o := &Outline{}
	info := mapping(field(root, "info"))
	o.Title, o.Version = scalar(field(info, "title")), scalar(field(info, "version"))
	switch {
	case scalar(field(root, "openapi")) != "":
		o.Spec = "OpenAPI " + scalar(field(root, "openapi"))
	case scalar(field(root, "swagger")) != "":
		o.Spec = "Swagger " + scalar(field(root, "swagger"))
		if host := scalar(field(root, "host")); host != "" {
			o.Servers = append(o.Servers, host+scalar(field(root, "basePath")))
		}
	case scalar(field(root, "asyncapi")) != "":
		o.Spec = "AsyncAPI " + scalar(field(root, "asyncapi"))
	}
	o.Servers = append(o.Servers, servers(field(root, "servers"))...)
	if specType == "OPEN_API" {
		o.Operations = operations(mapping(field(root, "paths")))
	} else {
		o.Channels = channels(root)
	}
	return o, nil
}

func operations(paths *yaml.Node) []Operation {
	var ops []Operation
	each(paths, func(path string, item *yaml.Node) {
		for _, m := range methods {
			op := mapping(field(item, m))
			if op == nil {
				continue
			}
			sum := scalar(field(op, "summary"))
			if sum == "" {
				sum = firstLine(scalar(field(op, "description")))
			}
			ops = append(ops, Operation{Method: strings.ToUpper(m), Path: path, Summary: sum,
				ID: scalar(field(op, "operationId")), Deprecated: scalar(field(op, "deprecated")) == "true"})
		}
	})
	return ops
}

// channels reads AsyncAPI 2 (publish/subscribe inside each channel) and AsyncAPI 3 (operations at the
// top level, each naming its channel by reference).
func channels(root *yaml.Node) []Channel {
	var out []Channel
	index := map[string]int{}
	each(mapping(field(root, "channels")), func(name string, ch *yaml.Node) {
		c := Channel{Name: name, Description: firstLine(scalar(field(ch, "description")))}
		if addr := scalar(field(ch, "address")); addr != "" { // AsyncAPI 3: the key is an ID
			c.Name = addr
		}
		for _, act := range []string{"publish", "subscribe"} {
			if op := mapping(field(ch, act)); op != nil {
				c.Actions = append(c.Actions, act+" "+messageNames(field(op, "message")))
			}
		}
		index["#/channels/"+name] = len(out)
		out = append(out, c)
	})
	each(mapping(field(root, "operations")), func(id string, op *yaml.Node) {
		ref := scalar(field(mapping(field(op, "channel")), "$ref"))
		i, ok := index[ref]
		if !ok {
			return
		}
		act := scalar(field(op, "action"))
		if sum := scalar(field(op, "summary")); sum != "" {
			act += ": " + sum
		} else {
			act += " (" + id + ")"
		}
		out[i].Actions = append(out[i].Actions, act)
	})
	return out
}

// messageNames names the messages of an AsyncAPI 2 operation: a message, a oneOf list of them, or
// references.
func messageNames(msg *yaml.Node) string {
	msg = mapping(msg)
	if msg == nil {
		return ""
	}
	name := func(m *yaml.Node) string {
		for _, k := range []string{"name", "title", "summary"} {
			if v := scalar(field(m, k)); v != "" {
				return v
			}
		}
		if ref := scalar(field(m, "$ref")); ref != "" {
			return ref[strings.LastIndex(ref, "/")+1:]
		}
		return ""
	}
	if list := field(msg, "oneOf"); list != nil && list.Kind == yaml.SequenceNode {
		var names []string
		for _, m := range list.Content {
			if n := name(mapping(m)); n != "" {
				names = append(names, n)
			}
		}
		return strings.Join(names, ", ")
	}
	return name(msg)
}

func servers(n *yaml.Node) []string {
	var out []string
	switch {
	case n == nil:
	case n.Kind == yaml.SequenceNode: // OpenAPI 3
		for _, s := range n.Content {
			if u := scalar(field(mapping(s), "url")); u != "" {
				out = append(out, u)
			}
		}
	case n.Kind == yaml.MappingNode: // AsyncAPI: named servers
		each(n, func(name string, s *yaml.Node) {
			u := scalar(field(s, "url"))
			if u == "" {
				u = scalar(field(s, "host")) + scalar(field(s, "pathname"))
			}
			if p := scalar(field(s, "protocol")); p != "" {
				u += " (" + p + ")"
			}
			out = append(out, name+": "+u)
		})
	}
	return out
}

// mapping follows a document node and aliases to the mapping beneath, or nil.
func mapping(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	return n
}

// field is the value of key in mapping m, or nil.
func field(m *yaml.Node, key string) *yaml.Node {
	m = mapping(m)
	if m == nil {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// each calls fn for every key of mapping m whose value is a mapping, in the document's order.
func each(m *yaml.Node, fn func(key string, v *yaml.Node)) {
	m = mapping(m)
	if m == nil {
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if v := mapping(m.Content[i+1]); v != nil {
			fn(m.Content[i].Value, v)
		}
	}
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// Pretty indents a JSON specification for reading; any other text is returned as it is.
func Pretty(specFormat, data string) string {
	if specFormat != "JSON" || len(data) > maxSource {
		return data
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(data), "", "  "); err != nil {
		return data
	}
	return buf.String()
}
