package gardener

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// The names the agent's manifest (deploy/runtime-agent.yaml) gives the objects the backend fills in.
const (
	agentDeployment    = "runtime-agent"
	agentContainer     = "runtime-agent"
	agentPairingSecret = "runtime-agent-pairing"
	// The pairing Secret is mounted at /pairing; a gateway CA, when configured, goes in beside the token.
	agentCAKey  = "gateway-ca.crt"
	agentCAFile = "/pairing/" + agentCAKey
)

// LoadAgentManifest reads the Runtime Agent's manifest (deploy/runtime-agent.yaml): the objects the
// backend installs into every shoot, so that a cluster provisioned here runs the agent exactly as one
// set up by hand does. It checks that the objects the backend fills in are there.
func LoadAgentManifest(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("runtime agent manifest: %w", err)
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("runtime agent manifest %s: %w", path, err)
		}
		if len(m) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
	var secret, deployment bool
	for _, o := range objs {
		secret = secret || (o.GetKind() == "Secret" && o.GetName() == agentPairingSecret)
		deployment = deployment || (o.GetKind() == "Deployment" && o.GetName() == agentDeployment)
	}
	if !secret || !deployment {
		return nil, fmt.Errorf("runtime agent manifest %s: needs Secret %s and Deployment %s", path, agentPairingSecret, agentDeployment)
	}
	return objs, nil
}

// agentValues are what one runtime's agent is told.
type agentValues struct {
	Namespace, RuntimeID, Token           string
	ConnectorURL, GatewaySecureURL, Image string
	GatewayCA                             []byte
}

// renderAgent returns the manifest's objects for one runtime: in its namespace (created first), the
// one-time token in the pairing Secret, and the runtime's id and the plane's addresses in the Deployment.
func renderAgent(manifest []*unstructured.Unstructured, v agentValues) ([]*unstructured.Unstructured, error) {
	out := []*unstructured.Unstructured{{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": v.Namespace, "labels": map[string]any{LabelManagedBy: managedBy}},
	}}}
	for _, o := range manifest {
		o = o.DeepCopy()
		o.SetNamespace(v.Namespace)
		switch {
		case o.GetKind() == "Secret" && o.GetName() == agentPairingSecret:
			data := map[string]any{"token": v.Token}
			if len(v.GatewayCA) > 0 {
				data[agentCAKey] = string(v.GatewayCA)
			}
			if err := unstructured.SetNestedMap(o.Object, data, "stringData"); err != nil {
				return nil, err
			}
		case o.GetKind() == "Deployment" && o.GetName() == agentDeployment:
			if err := setAgentEnv(o, v); err != nil {
				return nil, err
			}
		}
		out = append(out, o)
	}
	return out, nil
}

func setAgentEnv(d *unstructured.Unstructured, v agentValues) error {
	containers, _, err := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if err != nil {
		return fmt.Errorf("runtime agent Deployment: %w", err)
	}
	set := map[string]string{"RUNTIME_ID": v.RuntimeID, "CONNECTOR_URL": v.ConnectorURL, "GATEWAY_SECURE_URL": v.GatewaySecureURL}
	if len(v.GatewayCA) > 0 {
		set["GATEWAY_CA_FILE"] = agentCAFile
	}
	found := false
	for i, c := range containers {
		cm, ok := c.(map[string]any)
		if !ok || cm["name"] != agentContainer {
			continue
		}
		found = true
		if v.Image != "" {
			cm["image"] = v.Image
		}
		env, _ := cm["env"].([]any)
		done := map[string]bool{}
		for _, e := range env {
			em, ok := e.(map[string]any)
			if !ok {
				continue
			}
			name, _ := em["name"].(string)
			if val, ok := set[name]; ok {
				em["value"] = val
				delete(em, "valueFrom")
				done[name] = true
			}
		}
		for _, name := range []string{"RUNTIME_ID", "CONNECTOR_URL", "GATEWAY_SECURE_URL", "GATEWAY_CA_FILE"} {
			if val, ok := set[name]; ok && !done[name] {
				env = append(env, map[string]any{"name": name, "value": val})
			}
		}
		cm["env"] = env
		containers[i] = cm
	}
	if !found {
		return fmt.Errorf("runtime agent Deployment has no container %q", agentContainer)
	}
	return unstructured.SetNestedSlice(d.Object, containers, "spec", "template", "spec", "containers")
}

// apply server-side applies objs in order into the cluster cfg reaches, as fieldManager; the resource of
// each object is found through the cluster's discovery.
func apply(ctx context.Context, cfg *rest.Config, fieldManager string, objs []*unstructured.Unstructured) error {
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
		}
		var res dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			res = dyn.Resource(m.Resource).Namespace(o.GetNamespace())
		}
		if _, err := res.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
			return fmt.Errorf("apply %s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
	return nil
}
