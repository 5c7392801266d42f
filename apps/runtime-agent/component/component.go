// Package component renders Dapr Component resources (dapr.io/v1alpha1) from Governor bindings, in the
// shape of the repository's checked-in components/*.yaml, and marks them as owned by the agent.
package component

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

// Resource identity of a Dapr component.
const (
	APIVersion = "dapr.io/v1alpha1"
	Kind       = "Component"
	Version    = "v1"
)

// Ownership marks. The agent only ever changes or deletes components carrying them, so that hand-written
// components next to its own are safe.
const (
	// ManagedByAnnotation marks a component file or resource written by the agent.
	ManagedByAnnotation = "mgmtplane.io/managed-by"
	ManagedByAgent      = "runtime-agent"
	// ManagedByLabel is the Kubernetes convention, also used as the label selector for owned objects.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "mgmtplane-runtime-agent"
	// RuntimeLabel names the runtime whose configuration the component comes from.
	RuntimeLabel = "mgmtplane.io/runtime-id"
	// SecretsVersionAnnotation changes whenever the binding's secret values change. On Kubernetes that is
	// what makes the Dapr operator push the component again with the new values (a Secret change alone
	// does not reach the sidecar). It is a keyed hash or a random token, never a plain hash: component
	// files and resources are readable by more people than secrets, and a plain hash of a weak password
	// can be reversed by guessing.
	SecretsVersionAnnotation = "mgmtplane.io/secrets-version"
)

// Component is a Dapr Component resource. Field order is the order of the YAML output and follows the
// checked-in components: apiVersion, kind, metadata, spec (type, version, ...), auth, scopes.
type Component struct {
	APIVersion string     `yaml:"apiVersion" json:"apiVersion"`
	Kind       string     `yaml:"kind" json:"kind"`
	Metadata   ObjectMeta `yaml:"metadata" json:"metadata"`
	Spec       Spec       `yaml:"spec" json:"spec"`
	Auth       *Auth      `yaml:"auth,omitempty" json:"auth,omitempty"`
	Scopes     []string   `yaml:"scopes,omitempty" json:"scopes,omitempty"`
}

// ObjectMeta is the part of Kubernetes object metadata a component file uses.
type ObjectMeta struct {
	Name        string            `yaml:"name" json:"name"`
	Namespace   string            `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty" json:"annotations,omitempty"`
}

// Spec is a component's spec.
type Spec struct {
	Type    string `yaml:"type" json:"type"`
	Version string `yaml:"version" json:"version"`
	// IgnoreErrors keeps the sidecar running when the component fails to initialise; see Options.
	IgnoreErrors bool           `yaml:"ignoreErrors,omitempty" json:"ignoreErrors,omitempty"`
	Metadata     []MetadataItem `yaml:"metadata,omitempty" json:"metadata,omitempty"`
}

// MetadataItem is one entry of spec.metadata: a plain value or a reference to a secret.
type MetadataItem struct {
	Name         string        `yaml:"name" json:"name"`
	Value        string        `yaml:"value,omitempty" json:"value,omitempty"`
	SecretKeyRef *SecretKeyRef `yaml:"secretKeyRef,omitempty" json:"secretKeyRef,omitempty"`
}

// SecretKeyRef points at one key of one secret in the component's secret store.
type SecretKeyRef struct {
	Name string `yaml:"name" json:"name"`
	Key  string `yaml:"key" json:"key"`
}

// Auth names the secret store that resolves the component's secretKeyRefs.
type Auth struct {
	SecretStore string `yaml:"secretStore" json:"secretStore"`
}

// Options decide the parts of a component that depend on where it is applied.
type Options struct {
	RuntimeID string
	Namespace string
	// SecretStore is put in auth.secretStore of components with secrets; empty leaves auth out, which on
	// Kubernetes means Dapr's built-in "kubernetes" store.
	SecretStore string
	// SecretName returns the name of the secret holding a binding's secret values.
	SecretName func(binding string) string
	// IgnoreErrors sets spec.ignoreErrors: a component that fails to initialise is then dropped by the
	// sidecar instead of shutting it down, and the agent sees it missing from the sidecar's metadata.
	IgnoreErrors bool
}

// ForBinding returns the component for b. Secret metadata becomes secretKeyRefs to the secret named
// opts.SecretName(b.Name), one key per metadata name; the values never appear in the component.
// secretsVersion, for a binding with secrets, goes into the SecretsVersionAnnotation.
func ForBinding(b revision.Binding, secretsVersion string, opts Options) Component {
	c := Component{
		APIVersion: APIVersion,
		Kind:       Kind,
		Metadata: ObjectMeta{
			Name:        b.Name,
			Namespace:   opts.Namespace,
			Labels:      OwnedLabels(opts.RuntimeID),
			Annotations: map[string]string{ManagedByAnnotation: ManagedByAgent},
		},
		Spec: Spec{
			Type:         b.Type,
			Version:      b.ComponentVersion(),
			IgnoreErrors: opts.IgnoreErrors,
		},
		Scopes: slices.Clone(b.Scopes),
	}
	for _, it := range b.Metadata {
		c.Spec.Metadata = append(c.Spec.Metadata, MetadataItem{Name: it.Name, Value: it.Value})
	}
	if len(b.SecretMetadata) > 0 {
		secret := b.Name
		if opts.SecretName != nil {
			secret = opts.SecretName(b.Name)
		}
		for _, it := range b.SecretMetadata {
			c.Spec.Metadata = append(c.Spec.Metadata, MetadataItem{
				Name:         it.Name,
				SecretKeyRef: &SecretKeyRef{Name: secret, Key: it.Name},
			})
		}
		if secretsVersion != "" {
			c.Metadata.Annotations[SecretsVersionAnnotation] = secretsVersion
		}
		if opts.SecretStore != "" {
			c.Auth = &Auth{SecretStore: opts.SecretStore}
		}
	}
	return c
}

// OwnedLabels returns the labels every object the agent writes carries.
func OwnedLabels(runtimeID string) map[string]string {
	l := map[string]string{ManagedByLabel: ManagedByValue}
	if runtimeID != "" {
		l[RuntimeLabel] = runtimeID
	}
	return l
}

// Owned reports whether a component carries the agent's ownership marks.
func (c Component) Owned() bool {
	return c.Metadata.Annotations[ManagedByAnnotation] == ManagedByAgent
}

// KeyedHash returns a short, stable HMAC-SHA256 of v's JSON encoding (map keys come sorted) under key.
func KeyedHash(key []byte, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only maps of strings reach here; they always encode.
		panic(fmt.Sprintf("component: hash: %v", err))
	}
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// YAML renders c as YAML with two-space indentation. Strings that need quoting are double-quoted,
// as in the checked-in files, and a header comment says who wrote the file.
func (c Component) YAML(header string) ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(c); err != nil {
		return nil, fmt.Errorf("encode component %s: %w", c.Metadata.Name, err)
	}
	doubleQuote(&n)
	n.HeadComment = header
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("encode component %s: %w", c.Metadata.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode component %s: %w", c.Metadata.Name, err)
	}
	return buf.Bytes(), nil
}

// doubleQuote switches the single-quoted scalars yaml.v3 picks to double quotes, the style of the
// checked-in components ("{appID}", "100000").
func doubleQuote(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Style&yaml.SingleQuotedStyle != 0 {
		n.Style = yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		doubleQuote(c)
	}
}

// Parse reads the Component documents of a YAML stream, skipping other kinds.
func Parse(data []byte) ([]Component, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []Component
	for {
		var c Component
		err := dec.Decode(&c)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, fmt.Errorf("parse components: %w", err)
		}
		if c.APIVersion == APIVersion && c.Kind == Kind {
			out = append(out, c)
		}
	}
}
