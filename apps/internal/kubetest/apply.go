package kubetest

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Warnings collects the warnings an API server sends in response headers (deprecated APIs, unknown or
// duplicate fields, ...), which client-go otherwise only logs.
type Warnings struct {
	mu   sync.Mutex
	list []string
}

// HandleWarningHeader implements rest.WarningHandler.
func (w *Warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

// List returns the warnings received so far.
func (w *Warnings) List() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.list...)
}

// Result is what one object's apply returned.
type Result struct {
	Object   *unstructured.Unstructured // as stored
	Warnings []string
}

// Apply server-side applies objs in order with cfg's credentials, the way `kubectl apply --server-side`
// does: each object's resource is found through discovery, namespaced objects without a namespace go to
// namespace, and the field manager is FieldManager. It stops at the first refused object and says which.
func Apply(ctx context.Context, cfg *rest.Config, namespace string, objs []*unstructured.Unstructured) ([]Result, error) {
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	// Discovery is read afresh: a CRD installed a moment ago must be found.
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	var results []Result
	for _, o := range objs {
		where := fmt.Sprintf("%s %s", o.GetKind(), o.GetName())
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return results, fmt.Errorf("%s: %w", where, err)
		}
		// One client per object, so that each object's warnings are told apart.
		var w Warnings
		c := rest.CopyConfig(cfg)
		c.WarningHandler = &w
		dyn, err := dynamic.NewForConfig(c)
		if err != nil {
			return results, err
		}
		var res dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			o = o.DeepCopy()
			if o.GetNamespace() == "" {
				o.SetNamespace(namespace)
			}
			res = dyn.Resource(m.Resource).Namespace(o.GetNamespace())
			where += " in " + o.GetNamespace()
		}
		stored, err := res.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
		if err != nil {
			return results, fmt.Errorf("apply %s: %w", where, err)
		}
		results = append(results, Result{Object: stored, Warnings: w.List()})
	}
	return results, nil
}
