// Package kube applies a runtime configuration to a Dapr runtime on Kubernetes: one Component custom
// resource (dapr.io/v1alpha1) per binding and one Secret per binding with secrets, in the runtime's
// namespace. The Dapr operator streams component changes to the sidecars, which hot-reload them.
//
// On Kubernetes a changed Secret does not reach the sidecars by itself either; but the operator resolves
// secretKeyRefs each time it sends a component, so changing the component's secrets-version annotation is
// enough to make it send the new values, and the sidecar reloads because the resolved values differ. The
// version is a random token kept on the Secret and renewed with every change of its data, in the same
// update: after a crash between the Secret and the Component, the next apply still sees that the
// Component lags behind.
//
// The API server can be briefly away (a control-plane upgrade, an etcd election). Apply is idempotent —
// it reads what exists and writes only the difference — so it retries as a whole, re-reading each time,
// until RetryFor has passed; then it fails with ErrUnavailable. The order of writes (Secrets, Components,
// then deletions of Components before Secrets) means that wherever an attempt stops, no Component refers
// to a Secret that is not there, and the next attempt finishes the job.
package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/component"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/retry"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

// ComponentGVR is the resource of Dapr components.
var ComponentGVR = schema.GroupVersionResource{Group: "dapr.io", Version: "v1alpha1", Resource: "components"}

// ErrConflict means a binding would replace an object the agent does not own.
var ErrConflict = errors.New("conflict with an object not managed by the agent")

// ErrUnavailable means the API server could not be reached (or kept answering "try later") for as long as
// Apply retries. It is temporary: the reconcile loop tries the same revision again later.
var ErrUnavailable error = unavailable{}

type unavailable struct{}

func (unavailable) Error() string   { return "kubernetes API unavailable" }
func (unavailable) Temporary() bool { return true }

// Retry defaults: long enough to ride out an API-server restart, short enough that the Governor hears
// about a lasting outage while it is still the news.
const (
	DefaultRetryFor       = time.Minute
	DefaultAttemptTimeout = 30 * time.Second
)

// AuthGrace is how long Apply takes refusals (403, 401) for the answers of an API server that is still
// starting: it serves requests before its authorizer's and authenticator's caches are filled, and denies
// them until then (seen after a restart of a real kube-apiserver). Refusals that last longer are reported.
const AuthGrace = 10 * time.Second

// Config says where and how the applier writes.
type Config struct {
	Namespace string
	RuntimeID string
	// SecretPrefix starts the name of each binding's Secret (prefix + binding name), keeping the agent's
	// Secrets apart from the namespace's others.
	SecretPrefix string
	// IgnoreErrors sets spec.ignoreErrors on every component (see component.Options).
	IgnoreErrors bool
	// Owner, when set, becomes an owner reference of every object written, so deleting the owner (say,
	// the agent's Deployment) lets the garbage collector remove what the agent wrote.
	Owner *metav1.OwnerReference
	// RetryFor bounds how long Apply keeps trying while the API server is unreachable or overloaded, or
	// while someone else changes the same objects: DefaultRetryFor when zero, no retry when negative.
	RetryFor time.Duration
	// AttemptTimeout bounds one attempt, so that a server that accepts connections but never answers
	// counts as unavailable: DefaultAttemptTimeout when zero.
	AttemptTimeout time.Duration
}

// Applier writes Components and Secrets through the Kubernetes API.
type Applier struct {
	dyn  dynamic.Interface
	core kubernetes.Interface
	cfg  Config
	log  *slog.Logger
}

// New returns an applier that uses dyn for Components and core for Secrets.
func New(dyn dynamic.Interface, core kubernetes.Interface, cfg Config, log *slog.Logger) (*Applier, error) {
	if cfg.Namespace == "" {
		return nil, errors.New("kubernetes applier: namespace is required")
	}
	if cfg.RetryFor == 0 {
		cfg.RetryFor = DefaultRetryFor
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	return &Applier{dyn: dyn, core: core, cfg: cfg, log: log}, nil
}

// SecretName is the name of the Secret holding a binding's secret values.
func (a *Applier) SecretName(binding string) string { return a.cfg.SecretPrefix + binding }

func (a *Applier) selector() string {
	return labels.SelectorFromSet(component.OwnedLabels(a.cfg.RuntimeID)).String()
}

func (a *Applier) owns(l map[string]string) bool {
	for k, v := range component.OwnedLabels(a.cfg.RuntimeID) {
		if l[k] != v {
			return false
		}
	}
	return true
}

// Apply makes the namespace match rev: Secrets first, then Components, then it deletes the Components and
// Secrets it owns that rev no longer has. An object of the same name that the agent does not own fails
// the revision before anything is written. Transient failures are retried (see the package comment).
func (a *Applier) Apply(ctx context.Context, rev revision.Revision) error {
	if err := rev.Validate(); err != nil {
		return err
	}
	start := time.Now()
	b := retry.New(250*time.Millisecond, 5*time.Second)
	var deniedSince time.Time // start of the current run of refusals
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, a.cfg.AttemptTimeout)
		err := a.apply(actx, rev)
		cancel()
		if err == nil {
			if attempt > 1 {
				a.log.InfoContext(ctx, "revision written after retries", "revision", rev.Number, "attempts", attempt, "took", time.Since(start).Round(time.Millisecond))
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		elapsed := time.Since(start)
		out := a.cfg.RetryFor < 0 || elapsed >= a.cfg.RetryFor // retry time used up
		denied := apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)
		if !denied {
			deniedSince = time.Time{}
		} else if deniedSince.IsZero() {
			deniedSince = time.Now()
		}
		switch {
		case denied:
			if out || time.Since(deniedSince) >= AuthGrace {
				if apierrors.IsForbidden(err) {
					return fmt.Errorf("%w (the agent's service account lacks this permission in namespace %s: see its Role, deploy/runtime-agent.yaml)", err, a.cfg.Namespace)
				}
				return err
			}
		case isUnavailable(err):
			if out {
				return fmt.Errorf("%w: gave up after %s and %d attempts: %w", ErrUnavailable, elapsed.Round(time.Millisecond), attempt, err)
			}
		case isStale(err):
			if out {
				return fmt.Errorf("objects kept changing under the agent: gave up after %d attempts: %w", attempt, err)
			}
		default:
			return err
		}
		d := min(b.Next(), a.cfg.RetryFor-elapsed)
		a.log.WarnContext(ctx, "writing the revision failed, will retry", "revision", rev.Number, "attempt", attempt, "retryIn", d.Round(time.Millisecond), "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%w)", ctx.Err(), err)
		case <-time.After(d):
		}
	}
}

// isUnavailable tells failures of the API server (unreachable, overloaded, timing out) from answers about
// the request: those are worth retrying, these are not.
func isUnavailable(err error) bool {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		switch code := status.Status().Code; {
		case code == 429, code >= 500:
			return true
		}
		return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err)
	}
	// No answer at all: connection refused or reset, TLS handshake cut short, an attempt's deadline.
	var uerr *url.Error
	return errors.As(err, &uerr) || errors.Is(err, context.DeadlineExceeded)
}

// errStale means the attempt's reading of the namespace went out of date before it wrote: another writer
// changed or removed an object, or an earlier write whose answer was lost did happen after all. A fresh
// attempt reads again.
var errStale = errors.New("changed since it was read")

// writeErr wraps the error of a write, marking those that mean the plan is stale.
func writeErr(op string, err error) error {
	switch {
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		return fmt.Errorf("%s: %w: %w", op, errStale, err)
	case apierrors.IsNotFound(err) && strings.HasPrefix(op, "update"):
		return fmt.Errorf("%s: %w: %w", op, errStale, err)
	case apierrors.IsNotFound(err):
		// A create that finds no resource or namespace to create in.
		return fmt.Errorf("%s (are Dapr's CRDs installed?): %w", op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isStale(err error) bool { return errors.Is(err, errStale) }

// apply is one attempt of Apply.
func (a *Applier) apply(ctx context.Context, rev revision.Revision) error {
	opts := component.Options{
		RuntimeID:    a.cfg.RuntimeID,
		Namespace:    a.cfg.Namespace,
		SecretName:   a.SecretName,
		IgnoreErrors: a.cfg.IgnoreErrors,
	}
	secrets := a.core.CoreV1().Secrets(a.cfg.Namespace)
	comps := a.dyn.Resource(ComponentGVR).Namespace(a.cfg.Namespace)

	type pending struct {
		secret   *corev1.Secret // desired
		curSec   *corev1.Secret // existing, nil when absent
		comp     *unstructured.Unstructured
		curComp  *unstructured.Unstructured
		bindName string
	}
	var plan []pending
	// First pass: read what exists and refuse conflicts, so a refused revision changes nothing.
	for _, b := range rev.Bindings {
		p := pending{bindName: b.Name}
		version := ""
		if s := b.Secrets(); s != nil {
			p.secret = a.secretFor(b.Name, s)
			cur, err := secrets.Get(ctx, p.secret.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return fmt.Errorf("get secret %s: %w", p.secret.Name, err)
			case !a.owns(cur.Labels):
				return fmt.Errorf("%w: secret %s/%s", ErrConflict, a.cfg.Namespace, p.secret.Name)
			default:
				p.curSec = cur
			}
			version = secretsVersion(p.curSec, p.secret.Data)
			p.secret.Annotations[component.SecretsVersionAnnotation] = version
		}
		desired, err := toUnstructured(component.ForBinding(b, version, opts))
		if err != nil {
			return err
		}
		a.setOwner(desired)
		p.comp = desired
		cur, err := comps.Get(ctx, b.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return fmt.Errorf("get component %s: %w", b.Name, err)
		case !a.owns(cur.GetLabels()):
			return fmt.Errorf("%w: component %s/%s", ErrConflict, a.cfg.Namespace, b.Name)
		default:
			p.curComp = cur
		}
		plan = append(plan, p)
	}

	// Secrets before the components that reference them, so the operator finds them when it resolves.
	wantSecrets := map[string]bool{}
	for _, p := range plan {
		if p.secret == nil {
			continue
		}
		wantSecrets[p.secret.Name] = true
		if err := a.putSecret(ctx, p.secret, p.curSec); err != nil {
			return err
		}
	}
	wantComps := map[string]bool{}
	for _, p := range plan {
		wantComps[p.bindName] = true
		if err := a.putComponent(ctx, p.comp, p.curComp); err != nil {
			return err
		}
	}

	// Deletions: components first, so none is left pointing at a deleted Secret.
	owned, err := comps.List(ctx, metav1.ListOptions{LabelSelector: a.selector()})
	if err != nil {
		return fmt.Errorf("list components: %w", err)
	}
	for _, c := range owned.Items {
		if wantComps[c.GetName()] || !a.owns(c.GetLabels()) {
			continue
		}
		if err := comps.Delete(ctx, c.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return writeErr("delete component "+c.GetName(), err)
		}
		a.log.InfoContext(ctx, "deleted component", "namespace", a.cfg.Namespace, "name", c.GetName())
	}
	ownedSecrets, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: a.selector()})
	if err != nil {
		return fmt.Errorf("list secrets: %w", err)
	}
	for _, s := range ownedSecrets.Items {
		if wantSecrets[s.Name] || !a.owns(s.Labels) {
			continue
		}
		if err := secrets.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return writeErr("delete secret "+s.Name, err)
		}
		a.log.InfoContext(ctx, "deleted secret", "namespace", a.cfg.Namespace, "name", s.Name)
	}
	return nil
}

func (a *Applier) secretFor(binding string, values map[string]string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:        a.SecretName(binding),
			Namespace:   a.cfg.Namespace,
			Labels:      component.OwnedLabels(a.cfg.RuntimeID),
			Annotations: map[string]string{component.ManagedByAnnotation: component.ManagedByAgent},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{},
	}
	for k, v := range values {
		s.Data[k] = []byte(v)
	}
	if a.cfg.Owner != nil {
		s.OwnerReferences = []metav1.OwnerReference{*a.cfg.Owner}
	}
	return s
}

func (a *Applier) putSecret(ctx context.Context, want, cur *corev1.Secret) error {
	secrets := a.core.CoreV1().Secrets(a.cfg.Namespace)
	if cur == nil {
		if _, err := secrets.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return writeErr("create secret "+want.Name, err)
		}
		return nil
	}
	upd := cur.DeepCopy()
	upd.Labels = mergeOwned(cur.Labels, want.Labels, nil)
	upd.Annotations = mergeOwned(cur.Annotations, want.Annotations, nil)
	upd.Data = want.Data
	upd.StringData = nil
	upd.Type = want.Type
	if want.OwnerReferences != nil {
		upd.OwnerReferences = want.OwnerReferences
	}
	if equality.Semantic.DeepEqual(cur, upd) {
		return nil
	}
	if _, err := secrets.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return writeErr("update secret "+want.Name, err)
	}
	return nil
}

func (a *Applier) putComponent(ctx context.Context, want, cur *unstructured.Unstructured) error {
	comps := a.dyn.Resource(ComponentGVR).Namespace(a.cfg.Namespace)
	if cur == nil {
		if _, err := comps.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return writeErr("create component "+want.GetName(), err)
		}
		return nil
	}
	upd := cur.DeepCopy()
	for _, field := range []string{"spec", "auth", "scopes"} {
		if v, ok := want.Object[field]; ok {
			upd.Object[field] = v
		} else {
			delete(upd.Object, field)
		}
	}
	upd.SetLabels(mergeOwned(cur.GetLabels(), want.GetLabels(), nil))
	// The secrets version is the agent's own annotation: drop it when the binding no longer has secrets.
	upd.SetAnnotations(mergeOwned(cur.GetAnnotations(), want.GetAnnotations(), []string{component.SecretsVersionAnnotation}))
	if refs := want.GetOwnerReferences(); len(refs) > 0 {
		upd.SetOwnerReferences(refs)
	}
	if equality.Semantic.DeepEqual(cur.Object, upd.Object) {
		return nil
	}
	if _, err := comps.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return writeErr("update component "+want.GetName(), err)
	}
	return nil
}

// mergeOwned returns cur with want's entries set and the keys in ours that want lacks removed; entries
// others put there (kubectl, other tools) stay.
func mergeOwned(cur, want map[string]string, ours []string) map[string]string {
	out := maps.Clone(cur)
	if out == nil {
		out = map[string]string{}
	}
	for _, k := range ours {
		if _, ok := want[k]; !ok {
			delete(out, k)
		}
	}
	maps.Copy(out, want)
	return out
}

func (a *Applier) setOwner(u *unstructured.Unstructured) {
	if a.cfg.Owner != nil {
		u.SetOwnerReferences([]metav1.OwnerReference{*a.cfg.Owner})
	}
}

// toUnstructured converts a component through its JSON form, the form the API server stores.
func toUnstructured(c component.Component) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode component %s: %w", c.Metadata.Name, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("encode component %s: %w", c.Metadata.Name, err)
	}
	// Dapr's CRD requires spec.metadata, and the API server refuses a Component without it ("spec.metadata:
	// Required value"), while a component file may leave it out: a binding with no metadata at all (say
	// bindings.kubernetes, whose settings all have defaults) gets an empty list.
	if spec, ok := m["spec"].(map[string]any); ok {
		if _, ok := spec["metadata"]; !ok {
			spec["metadata"] = []any{}
		}
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// ResolveOwner looks up the object ref names ("group/version/resource/name", or "version/resource/name"
// for the core group, e.g. "apps/v1/deployments/runtime-agent") in namespace and returns an owner
// reference to it. Owner references need the owner's UID, which only the API server knows.
func ResolveOwner(ctx context.Context, dyn dynamic.Interface, namespace, ref string) (*metav1.OwnerReference, error) {
	parts := strings.Split(ref, "/")
	if len(parts) == 3 {
		parts = slices.Insert(parts, 0, "")
	}
	if len(parts) != 4 || slices.Contains(parts[1:], "") {
		return nil, fmt.Errorf("owner %q: want group/version/resource/name or version/resource/name", ref)
	}
	gvr := schema.GroupVersionResource{Group: parts[0], Version: parts[1], Resource: parts[2]}
	obj, err := dyn.Resource(gvr).Namespace(namespace).Get(ctx, parts[3], metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("owner %q: %w", ref, err)
	}
	return &metav1.OwnerReference{
		APIVersion: obj.GetAPIVersion(),
		Kind:       obj.GetKind(),
		Name:       obj.GetName(),
		UID:        obj.GetUID(),
	}, nil
}

// secretsVersion keeps the version of an existing Secret whose data is unchanged and makes a new one
// otherwise.
func secretsVersion(cur *corev1.Secret, data map[string][]byte) string {
	if cur != nil && cur.Annotations[component.SecretsVersionAnnotation] != "" && equality.Semantic.DeepEqual(cur.Data, data) {
		return cur.Annotations[component.SecretsVersionAnnotation]
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail on supported platforms
	return hex.EncodeToString(b)
}
