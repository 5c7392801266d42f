package kubetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/mgmtplane/mgmtplane/apps/internal/freeport"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// FieldManager is the field manager of what the harness applies.
const FieldManager = "kubetest"

// DaprCRDDir returns the folder of Dapr's CRDs (charts/dapr/crds) in the github.com/dapr/dapr module the
// repository at root depends on, so the tests install the CRDs of the Dapr version the project uses.
func DaprCRDDir(ctx context.Context, root string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/dapr/dapr")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locate the dapr module: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		// Listed in go.mod's graph but not downloaded yet.
		dl := exec.CommandContext(ctx, "go", "mod", "download", "-json", "github.com/dapr/dapr")
		dl.Dir = root
		if out, err := dl.CombinedOutput(); err != nil {
			return "", fmt.Errorf("download the dapr module: %w: %s", err, out)
		}
		return DaprCRDDir(ctx, root)
	}
	crds := filepath.Join(dir, "charts", "dapr", "crds")
	if _, err := os.Stat(crds); err != nil {
		return "", fmt.Errorf("dapr's CRDs: %w", err)
	}
	return crds, nil
}

// ReadObjects decodes every object of a multi-document YAML (or JSON) file.
func ReadObjects(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(m) == 0 { // an empty document, or one of comments only
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// installCRDs server-side applies every CRD in dirs and waits until each is established, that is until
// its resources are served.
func installCRDs(ctx context.Context, cfg *rest.Config, dirs []string) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	crds := dyn.Resource(crdGVR)
	var names []string
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			return err
		}
		if len(files) == 0 {
			return fmt.Errorf("no CRDs in %s", dir)
		}
		for _, file := range files {
			objs, err := ReadObjects(file)
			if err != nil {
				return err
			}
			for _, o := range objs {
				if o.GetKind() != "CustomResourceDefinition" {
					continue
				}
				if _, err := crds.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
					return fmt.Errorf("apply CRD %s (%s): %w", o.GetName(), filepath.Base(file), err)
				}
				names = append(names, o.GetName())
			}
		}
	}
	for _, name := range names {
		if err := waitEstablished(ctx, crds, name); err != nil {
			return err
		}
	}
	return nil
}

func waitEstablished(ctx context.Context, crds dynamic.NamespaceableResourceInterface, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		u, err := crds.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("CRD %s: %w", name, err)
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRD %s not established: %w", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	p, err := freeport.Port()
	if err != nil {
		return 0, fmt.Errorf("kubetest: %w", err)
	}
	return p, nil
}
