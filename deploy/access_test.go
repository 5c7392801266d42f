package deploy_test

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	daprconfig "github.com/dapr/dapr/pkg/apis/configuration/v1alpha1"
)

// localOnly are the apps that run locally but not yet on a cluster, and why.
var localOnly = map[string]string{}

// The local runs (make run, the end-to-end stack) give each app's sidecar its access policy from
// dapr/access/<app id>.yaml. They must be the policies of deploy/, so that what the end-to-end suite proves
// about who may call whom holds on a cluster, and a change to one cannot leave the other behind.
func TestLocalAccessPoliciesAreTheDeployedOnes(t *testing.T) {
	m := load(t)
	deployed := map[string]*daprconfig.AccessControlSpec{}
	for _, d := range m.deployments {
		ann := d.Spec.Template.Annotations
		if ann["dapr.io/enabled"] == "true" && d.Name != "runtime-agent" {
			deployed[ann["dapr.io/app-id"]] = m.configs[ann["dapr.io/config"]].Spec.AccessControlSpec
		}
	}
	if len(deployed) == 0 {
		t.Fatal("no Dapr-enabled deployments of the plane in deploy/")
	}

	files, err := filepath.Glob(filepath.Join("..", "dapr", "access", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	local := map[string]*daprconfig.AccessControlSpec{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c daprconfig.Configuration
		if err := yaml.UnmarshalStrict(data, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		// Only the access policy: the rest of a local sidecar's Configuration is dapr/config.yaml's.
		var raw struct {
			Spec map[string]any `json:"spec"`
		}
		if err := yaml.Unmarshal(data, &raw); err != nil {
			t.Fatal(err)
		}
		if keys := slices.Sorted(maps.Keys(raw.Spec)); !slices.Equal(keys, []string{"accessControl"}) {
			t.Errorf("%s: spec holds %v; it must hold accessControl only", f, keys)
		}
		local[strings.TrimSuffix(filepath.Base(f), ".yaml")] = c.Spec.AccessControlSpec
	}

	for app, want := range deployed {
		got, ok := local[app]
		if !ok {
			t.Errorf("%s: no dapr/access/%s.yaml; its local sidecar would accept every caller", app, app)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: dapr/access/%s.yaml and deploy/configuration.yaml differ:\nlocal:  %+v\ndeploy: %+v", app, app, got, want)
		}
	}
	for app := range local {
		if _, ok := deployed[app]; !ok && localOnly[app] == "" {
			t.Errorf("dapr/access/%s.yaml: no such app in deploy/", app)
		}
	}
}

// daprd refuses a whole Configuration, and does not start, when one of its policies lacks a trust domain or a
// namespace (pkg/acl.ParseAccessControlSpec); a caller matches a policy only when both are its own.
func TestAccessPoliciesNameTrustDomainAndNamespace(t *testing.T) {
	m := load(t)
	for name, c := range m.configs {
		ac := c.Spec.AccessControlSpec
		if ac == nil {
			continue
		}
		for _, p := range ac.AppPolicies {
			if p.AppName == "" || p.TrustDomain != "public" || p.Namespace != "mgmtplane" {
				t.Errorf("%s: policy for %q: trust domain %q, namespace %q; want public, mgmtplane", name, p.AppName, p.TrustDomain, p.Namespace)
			}
		}
	}
}
