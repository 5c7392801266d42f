// Package deploy holds the Kubernetes manifests; this test keeps them honest against the code. No cluster
// is needed: it decodes every manifest strictly and checks what a typo would silently break on a cluster —
// an environment variable the app does not read, a component the app names that is missing or not scoped
// to it, ports that disagree, a Dapr Configuration that does not exist, a file kustomize does not list.
package deploy_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	daprconfig "github.com/dapr/dapr/pkg/apis/configuration/v1alpha1"
)

// daprObject is the part of a Dapr Component the checks read; the rest must still be
// valid fields, which strict decoding into the full shape below enforces.
type daprObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace,omitempty"`
	} `json:"metadata"`
	Spec struct {
		Type         string `json:"type,omitempty"`
		Version      string `json:"version,omitempty"`
		IgnoreErrors bool   `json:"ignoreErrors,omitempty"`
		Metadata     []struct {
			Name         string `json:"name"`
			Value        any    `json:"value,omitempty"`
			SecretKeyRef *struct {
				Name string `json:"name"`
				Key  string `json:"key"`
			} `json:"secretKeyRef,omitempty"`
		} `json:"metadata,omitempty"`
	} `json:"spec"`
	Scopes []string `json:"scopes,omitempty"`
}

type manifests struct {
	deployments []*appsv1.Deployment
	accounts    map[string]bool // service accounts by name
	components  map[string]daprObject
	configs     map[string]daprconfig.Configuration
	files       []string
}

func load(t *testing.T) manifests {
	t.Helper()
	strict := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	m := manifests{components: map[string]daprObject{}, configs: map[string]daprconfig.Configuration{}, accounts: map[string]bool{}}
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	for _, f := range files {
		if f == "kustomization.yaml" {
			continue
		}
		m.files = append(m.files, f)
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(data, []byte("\n---")) {
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue
			}
			where := fmt.Sprintf("%s document %d", f, i+1)
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal(doc, &head); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if head.APIVersion == "dapr.io/v1alpha1" && head.Kind == "Configuration" {
				// Dapr's own type: a misspelt policy field would otherwise be dropped without a word.
				var c daprconfig.Configuration
				if err := yaml.UnmarshalStrict(doc, &c); err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				m.configs[c.Name] = c
				continue
			}
			if strings.HasPrefix(head.APIVersion, "dapr.io/") {
				var d daprObject
				if err := yaml.UnmarshalStrict(doc, &d); err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				switch d.Kind {
				case "Component":
					m.components[d.Metadata.Name] = d
				default:
					t.Fatalf("%s: unexpected Dapr kind %s", where, d.Kind)
				}
				continue
			}
			obj, _, err := strict.Decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			switch o := obj.(type) {
			case *appsv1.Deployment:
				m.deployments = append(m.deployments, o)
			case *corev1.ServiceAccount:
				m.accounts[o.Name] = true
			}
		}
	}
	return m
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// appSettings are the environment variables an app reads and their defaults, from the conf tags of its
// configuration struct in apps/<app>/main.go.
func appSettings(t *testing.T, app string) map[string]string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "apps", app, "main.go"))
	if err != nil {
		t.Fatalf("the image names app %q, but: %v", app, err)
	}
	tag := regexp.MustCompile(`conf:"([^"]*)"`)
	settings := map[string]string{}
	for _, m := range tag.FindAllStringSubmatch(string(src), -1) {
		var env, def string
		for _, part := range strings.Split(m[1], ",") {
			k, v, _ := strings.Cut(part, ":")
			switch k {
			case "env":
				env = v
			case "default":
				def = v
			}
		}
		if env != "" {
			settings[env] = def
		}
	}
	if len(settings) == 0 {
		t.Fatalf("no conf tags found in apps/%s/main.go", app)
	}
	return settings
}

// componentSettings are the settings that name a Dapr component, with the type family it must have.
var componentSettings = map[string]string{
	"STATESTORE_NAME":        "state.",
	"PUBSUB_NAME":            "pubsub.",
	"WAKE_PUBSUB_NAME":       "pubsub.",
	"REVOCATION_PUBSUB_NAME": "pubsub.",
	"SECRETSTORE_NAME":       "secretstores.",
	"ASSERTION_KEY_STORE":    "secretstores.",
	"HEALTH_BINDING":         "bindings.",
}

func TestDeploymentsMatchTheApps(t *testing.T) {
	m := load(t)
	if len(m.deployments) == 0 {
		t.Fatal("no deployments found")
	}
	for _, d := range m.deployments {
		t.Run(d.Name, func(t *testing.T) {
			ann := d.Spec.Template.Annotations
			appID := ann["dapr.io/app-id"]
			if ann["dapr.io/enabled"] == "true" {
				if appID == "" {
					t.Fatal("dapr.io/enabled without dapr.io/app-id")
				}
				if cfg := ann["dapr.io/config"]; cfg != "" {
					if _, ok := m.configs[cfg]; !ok {
						t.Errorf("dapr.io/config %q: no such Configuration in deploy/", cfg)
					}
				}
			}
			if sa := d.Spec.Template.Spec.ServiceAccountName; sa != "" && !m.accounts[sa] {
				t.Errorf("serviceAccountName %q: no such ServiceAccount in deploy/", sa)
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				app, ok := strings.CutPrefix(c.Image, "mgmtplane/")
				if !ok {
					continue
				}
				app, _, _ = strings.Cut(app, ":")
				settings := appSettings(t, app)
				env := map[string]string{}
				for _, e := range c.Env {
					if _, known := settings[e.Name]; !known {
						t.Errorf("container %s sets %s, which apps/%s does not read", c.Name, e.Name, app)
					}
					env[e.Name] = e.Value
				}
				if appID == "" {
					continue
				}
				checkPorts(t, ann["dapr.io/app-port"], c, env)
				for setting, family := range componentSettings {
					def, reads := settings[setting]
					if !reads {
						continue
					}
					name := def
					if v, ok := env[setting]; ok {
						name = v
					}
					if name == "" { // WAKE_PUBSUB_NAME falls back to PUBSUB_NAME
						continue
					}
					if family == "secretstores." && name == "kubernetes" {
						continue // Dapr's built-in store on Kubernetes
					}
					comp, ok := m.components[name]
					switch {
					case !ok:
						t.Errorf("%s=%s: no such Component in deploy/", setting, name)
					case !strings.HasPrefix(comp.Spec.Type, family):
						t.Errorf("%s=%s: component type %s, want %s*", setting, name, comp.Spec.Type, family)
					case len(comp.Scopes) > 0 && !slices.Contains(comp.Scopes, appID):
						t.Errorf("%s=%s: component scoped to %v, not to %s", setting, name, comp.Scopes, appID)
					}
				}
			}
		})
	}
}

func checkPorts(t *testing.T, annotated string, c corev1.Container, env map[string]string) {
	t.Helper()
	if annotated == "" {
		return
	}
	if v, ok := env["APP_PORT"]; ok && v != annotated {
		t.Errorf("APP_PORT %s, dapr.io/app-port %s", v, annotated)
	}
	exposed := false
	for _, p := range c.Ports {
		exposed = exposed || fmt.Sprint(p.ContainerPort) == annotated
	}
	if !exposed {
		t.Errorf("dapr.io/app-port %s is not a container port of %s", annotated, c.Name)
	}
}

type image struct {
	Name string `json:"name"`
}

func TestKustomizationListsTheManifests(t *testing.T) {
	data, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `json:"resources"`
		Images    []image  `json:"images"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatal(err)
	}
	m := load(t)
	// runtime-agent.yaml goes to the runtime clusters, not to the management plane's.
	for _, f := range m.files {
		if f != "runtime-agent.yaml" && !slices.Contains(k.Resources, f) {
			t.Errorf("%s is not in kustomization.yaml", f)
		}
	}
	for _, r := range k.Resources {
		if !slices.Contains(m.files, r) {
			t.Errorf("kustomization.yaml lists %s, which does not exist", r)
		}
	}
	for _, d := range m.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			img, _, _ := strings.Cut(c.Image, ":")
			if d.Name != "runtime-agent" && !slices.ContainsFunc(k.Images, func(i image) bool { return i.Name == img }) {
				t.Errorf("image %s of %s has no entry under images: in kustomization.yaml", img, d.Name)
			}
		}
	}
}

// call is one service invocation the apps make: caller invokes verb path on callee.
type call struct{ caller, callee, verb, path string }

// calls are the invocations the apps make of one another (see apps/gateway/main.go, apps/director/pairing,
// apps/governor/runtimelabels, apps/provisioner/director); the access policies must allow each one.
var calls = []call{
	{"gateway", "director", "POST", "/graphql"},
	{"gateway", "governor", "POST", "/graphql"},
	{"gateway", "connector", "POST", "/graphql"},
	{"gateway", "connector", "POST", "/oauth/token"},
	{"gateway", "connector", "GET", "/oauth/jwks.json"},
	{"gateway", "connector", "GET", "/ca.pem"},
	{"gateway", "connector", "GET", "/certificates/0a1b/status"},
	{"gateway", "connector", "GET", "/certificates/status"},
	{"gateway", "connector", "GET", "/clients/c-1/status"},
	{"director", "connector", "POST", "/tokens"},
	{"director", "connector", "POST", "/owners/revoke"},
	{"director", "connector", "POST", "/clients"},
	{"director", "connector", "POST", "/clients/query"},
	{"director", "connector", "DELETE", "/clients/c-1"},
	{"governor", "director", "POST", "/graphql"},
	{"provisioner", "director", "POST", "/graphql"},
	{"gateway", "connector", "POST", "/client-secrets/verify"},
	{"gateway", "broker", "GET", "/v2/catalog"},
	{"gateway", "broker", "PUT", "/v2/service_instances/i-1/service_bindings/b-1"},
	{"gateway", "broker", "DELETE", "/v2/service_instances/i-1"},
	{"gateway", "broker", "PATCH", "/v2/service_instances/i-1"},
	{"gateway", "broker", "GET", "/specifications/a/b/apis/d"},
	{"gateway", "broker", "GET", "/v1/instances"},
	{"broker", "director", "POST", "/graphql"},
	{"gateway", "cockpit", "GET", "/cockpit/applications"},
	{"gateway", "cockpit", "POST", "/cockpit/applications/a-1/labels"},
}

// refused are invocations no app needs; the policies must deny them.
var refused = []call{
	{"gateway", "connector", "POST", "/tokens"}, // only on a caller's behalf, through the Director
	{"gateway", "connector", "POST", "/clients"},
	{"gateway", "connector", "DELETE", "/clients/c-1"},
	{"gateway", "connector", "GET", "/certificates/0a1b/other"},
	{"gateway", "connector", "GET", "/certificates/0a/1b/status"},
	{"director", "connector", "GET", "/clients/c-1/status"},
	{"governor", "connector", "POST", "/tokens"},
	{"director", "governor", "POST", "/graphql"},
	{"director", "director", "POST", "/healthcron"},
	{"connector", "director", "POST", "/graphql"},
	{"gateway", "director", "POST", "/healthcron"},
	{"director", "gateway", "POST", "/director/graphql"},
	{"runtime-agent", "director", "POST", "/graphql"},
	{"provisioner", "connector", "POST", "/tokens"},
	{"provisioner", "governor", "POST", "/graphql"},
	{"demo-logger", "governor", "POST", "/graphql"},
	{"broker", "connector", "POST", "/tokens"},
	{"broker", "governor", "POST", "/graphql"},
	{"director", "broker", "GET", "/v2/catalog"},
	{"gateway", "broker", "POST", "/v2/catalog"},
	{"gateway", "broker", "GET", "/healthz"},
	{"gateway", "cockpit", "DELETE", "/cockpit/applications/a-1"},
	{"gateway", "cockpit", "GET", "/events/runtime.updated"},
	{"director", "cockpit", "GET", "/cockpit/"},
}

// allowed decides as Dapr's access control does for HTTP (pkg/acl, pkg/config/acl_trie.go; alike in 1.16 and
// 1.18): the caller's policy when its app id, trust domain and namespace match, else the global default;
// within a policy, the operation that covers the path (operationFor), if it lists the verb, else the
// policy's default.
func allowed(cfg daprconfig.Configuration, c call) bool {
	ac := cfg.Spec.AccessControlSpec
	if ac == nil {
		return true
	}
	for _, p := range ac.AppPolicies {
		if p.AppName != c.caller || p.Namespace != "mgmtplane" || p.TrustDomain != "public" {
			continue
		}
		if op := operationFor(p.AppOperationActions, c.path); op != nil &&
			(slices.Contains(op.HTTPVerb, c.verb) || slices.Contains(op.HTTPVerb, "*")) {
			return op.Action == "allow"
		}
		return p.DefaultAction == "allow"
	}
	return ac.DefaultAction == "allow"
}

// operationFor returns the operation Dapr applies to path: it walks the path segment by segment and takes
// the first rule it meets, so a rule covers every deeper path too and the shortest covering rule wins.
// In a rule, "**" matches any one segment (and, last, everything below), "*" only the path's last segment.
func operationFor(ops []daprconfig.AppOperationAction, path string) *daprconfig.AppOperationAction {
	var best *daprconfig.AppOperationAction
	bestLen := 0
	for i, op := range ops {
		if n, ok := covers(op.Operation, path); ok && (best == nil || n < bestLen) {
			best, bestLen = &ops[i], n
		}
	}
	return best
}

func covers(pattern, path string) (int, bool) {
	ps := strings.Split(strings.TrimPrefix(pattern, "/"), "/")
	xs := strings.Split(strings.TrimPrefix(strings.ToLower(path), "/"), "/")
	if len(ps) > len(xs) {
		return 0, false
	}
	for i := range ps {
		switch {
		case ps[i] == "**":
		case ps[i] == "*":
			if i != len(xs)-1 {
				return 0, false
			}
		case ps[i] != xs[i]:
			return 0, false
		}
	}
	return len(ps), true
}

func TestAccessPoliciesAllowExactlyTheCallsTheAppsMake(t *testing.T) {
	m := load(t)
	configOf := map[string]daprconfig.Configuration{}
	for _, d := range m.deployments {
		ann := d.Spec.Template.Annotations
		if ann["dapr.io/enabled"] == "true" {
			configOf[ann["dapr.io/app-id"]] = m.configs[ann["dapr.io/config"]]
		}
	}
	for app, cfg := range configOf {
		if ac := cfg.Spec.AccessControlSpec; ac == nil || ac.DefaultAction != "deny" || ac.TrustDomain == "" {
			t.Errorf("%s: its Configuration must deny service invocation by default", app)
		}
	}
	for _, c := range calls {
		if !allowed(configOf[c.callee], c) {
			t.Errorf("%s -> %s %s %s is needed but denied", c.caller, c.callee, c.verb, c.path)
		}
	}
	for _, c := range refused {
		if allowed(configOf[c.callee], c) {
			t.Errorf("%s -> %s %s %s is allowed but no app needs it", c.caller, c.callee, c.verb, c.path)
		}
	}
}

func TestOnlyTheGatewayMayReadTheSigningKey(t *testing.T) {
	m := load(t)
	for _, d := range m.deployments {
		ann := d.Spec.Template.Annotations
		if ann["dapr.io/enabled"] != "true" {
			continue
		}
		cfg := m.configs[ann["dapr.io/config"]]
		if cfg.Spec.Secrets == nil {
			t.Errorf("%s: no secret scopes", d.Name)
			continue
		}
		for _, sc := range cfg.Spec.Secrets.Scopes {
			if sc.DefaultAccess != "deny" {
				t.Errorf("%s: secret store %s is open by default", d.Name, sc.StoreName)
			}
			if reads := slices.Contains(sc.AllowedSecrets, "mesh-assertion-signing-key"); reads != (ann["dapr.io/app-id"] == "gateway") {
				t.Errorf("%s: may read the assertion signing key: %v", d.Name, reads)
			}
		}
	}
}
