package component_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/component"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

// TestShapeMatchesCheckedInComponents renders every checked-in component in components/ with this
// package and expects the file back, comments aside: the agent writes exactly the shape the repository
// uses (key order, indentation, quoting).
func TestShapeMatchesCheckedInComponents(t *testing.T) {
	files, err := filepath.Glob("../../../components/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no checked-in components found")
	}
	compared := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		comps, err := component.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(comps) != 1 {
			continue // other kinds (Resiliency, ...)
		}
		got, err := comps[0].YAML("")
		if err != nil {
			t.Fatal(err)
		}
		if want := withoutComments(string(data)); string(got) != want {
			t.Errorf("%s: rendered differently:\n--- got\n%s--- want\n%s", f, got, want)
		}
		compared++
	}
	if compared == 0 {
		t.Fatal("no checked-in Component to compare with")
	}
}

func withoutComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		b.WriteString(line)
		b.WriteString("\n")
	}
	return b.String()
}

func TestForBindingKeepsSecretsOut(t *testing.T) {
	b := revision.Binding{
		Name:           "logging",
		Type:           "bindings.http",
		Metadata:       []revision.Item{{Name: "url", Value: "https://logs.example.com/in"}},
		SecretMetadata: []revision.Item{{Name: "securityToken", Value: "s3cr3t"}},
	}
	c := component.ForBinding(b, "v1", component.Options{SecretStore: "store", IgnoreErrors: true})
	out, err := c.YAML("")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "s3cr3t") {
		t.Fatalf("secret value in component:\n%s", out)
	}
	for _, want := range []string{"secretKeyRef:", "name: logging", "key: securityToken", "secretStore: store", "ignoreErrors: true", component.SecretsVersionAnnotation + ": v1"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("component lacks %q:\n%s", want, out)
		}
	}

}

func TestKeyedHash(t *testing.T) {
	v := map[string]string{"password": "hunter2"}
	a, b := component.KeyedHash([]byte("k1"), v), component.KeyedHash([]byte("k2"), v)
	if a == b {
		t.Error("the hash does not depend on the key")
	}
	if a != component.KeyedHash([]byte("k1"), map[string]string{"password": "hunter2"}) {
		t.Error("the hash is not stable")
	}
	if a == component.KeyedHash([]byte("k1"), map[string]string{"password": "hunter3"}) {
		t.Error("the hash does not follow the value")
	}
}

func TestParseSkipsOtherKinds(t *testing.T) {
	data := "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: c\n---\napiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: x\nspec:\n  type: bindings.http\n  version: v1\n"
	comps, err := component.Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(comps) != 1 || comps[0].Metadata.Name != "x" {
		t.Fatalf("got %+v", comps)
	}
}
