package kubetest

import (
	"context"
	"fmt"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Access is one request, as `kubectl auth can-i` asks it: Group "" is the core API group; Namespace ""
// a cluster-wide request; Name "" any object.
type Access struct {
	Verb, Group, Resource, Subresource, Namespace, Name string
}

func (a Access) String() string {
	r := a.Resource
	if a.Group != "" {
		r += "." + a.Group
	}
	if a.Subresource != "" {
		r += "/" + a.Subresource
	}
	if a.Name != "" {
		r += "/" + a.Name
	}
	if a.Namespace != "" {
		return fmt.Sprintf("%s %s in %s", a.Verb, r, a.Namespace)
	}
	return fmt.Sprintf("%s %s cluster-wide", a.Verb, r)
}

// ServiceAccountAllowed asks the server's authorizer (a SubjectAccessReview, sent as the admin) whether
// the ServiceAccount namespace/name may do a. The review carries the groups its token would carry, so
// bindings to those groups count too.
func (s *Server) ServiceAccountAllowed(ctx context.Context, namespace, name string, a Access) (bool, error) {
	cs, err := kubernetes.NewForConfig(s.Admin())
	if err != nil {
		return false, err
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   "system:serviceaccount:" + namespace + ":" + name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb:        a.Verb,
			Group:       a.Group,
			Resource:    a.Resource,
			Subresource: a.Subresource,
			Namespace:   a.Namespace,
			Name:        a.Name,
		},
	}}
	res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("access review %s for %s/%s: %w", a, namespace, name, err)
	}
	if res.Status.EvaluationError != "" && !strings.Contains(res.Status.EvaluationError, "not found") {
		// A broken binding (a Role that is missing, say) is a finding, not a denial to take at face value.
		return res.Status.Allowed, fmt.Errorf("access review %s for %s/%s: %s", a, namespace, name, res.Status.EvaluationError)
	}
	return res.Status.Allowed, nil
}

// ServiceAccountGranted is ServiceAccountAllowed for an access that is expected to be granted: the
// authorizer reads roles from the API server's informer cache, so a binding applied a moment ago may count
// only a moment later (longer on a busy machine). It asks again until the access is allowed or within has
// passed. A denial needs no such wait: waiting could only turn it into a grant.
func (s *Server) ServiceAccountGranted(ctx context.Context, namespace, name string, a Access, within time.Duration) (bool, error) {
	deadline := time.Now().Add(within)
	for {
		allowed, err := s.ServiceAccountAllowed(ctx, namespace, name, a)
		if err != nil || allowed || !time.Now().Before(deadline) {
			return allowed, err
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
