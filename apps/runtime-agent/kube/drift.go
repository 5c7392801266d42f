package kube

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/component"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/retry"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

// componentFields are the parts of a Component the agent owns whole (Apply replaces them); labels and
// annotations others add (kubectl, the operator's tooling) are theirs and not drift.
var componentFields = []string{"spec", "auth", "scopes"}

// Diff compares the namespace with what Apply writes for rev: a Component or Secret of rev's that is
// gone is MISSING; a Component whose spec, auth or scopes differ, or that lost the agent's labels, or a
// Secret with other data, is MODIFIED; a Component or Secret with the agent's labels that rev does not
// have is UNEXPECTED. It only reads.
func (a *Applier) Diff(ctx context.Context, rev revision.Revision) ([]revision.Difference, error) {
	if err := rev.Validate(); err != nil {
		return nil, err
	}
	opts := component.Options{RuntimeID: a.cfg.RuntimeID, Namespace: a.cfg.Namespace, SecretName: a.SecretName, IgnoreErrors: a.cfg.IgnoreErrors}
	secrets := a.core.CoreV1().Secrets(a.cfg.Namespace)
	comps := a.dyn.Resource(ComponentGVR).Namespace(a.cfg.Namespace)
	var out []revision.Difference
	diff := func(name string, kind revision.DiffKind, res string) {
		out = append(out, revision.Difference{Component: name, Kind: kind, Resource: res})
	}
	wantComps, wantSecrets := map[string]bool{}, map[string]bool{}
	for _, b := range rev.Bindings {
		wantComps[b.Name] = true
		if s := b.Secrets(); s != nil {
			want := a.secretFor(b.Name, s)
			wantSecrets[want.Name] = true
			cur, err := secrets.Get(ctx, want.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				diff(b.Name, revision.Missing, revision.ResourceSecret)
			case err != nil:
				return nil, fmt.Errorf("get secret %s: %w", want.Name, err)
			case !a.owns(cur.Labels) || !equality.Semantic.DeepEqual(secretData(cur.Data, cur.StringData), want.Data):
				diff(b.Name, revision.Modified, revision.ResourceSecret)
			}
		}
		desired, err := toUnstructured(component.ForBinding(b, "", opts))
		if err != nil {
			return nil, err
		}
		cur, err := comps.Get(ctx, b.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			diff(b.Name, revision.Missing, revision.ResourceComponent)
			continue
		case err != nil:
			return nil, fmt.Errorf("get component %s: %w", b.Name, err)
		}
		modified := !a.owns(cur.GetLabels())
		for _, f := range componentFields {
			modified = modified || !equality.Semantic.DeepEqual(cur.Object[f], desired.Object[f])
		}
		if modified {
			diff(b.Name, revision.Modified, revision.ResourceComponent)
		}
	}

	owned, err := comps.List(ctx, metav1.ListOptions{LabelSelector: a.selector()})
	if err != nil {
		return nil, fmt.Errorf("list components: %w", err)
	}
	for _, c := range owned.Items {
		if !wantComps[c.GetName()] && a.owns(c.GetLabels()) {
			diff(c.GetName(), revision.Unexpected, revision.ResourceComponent)
		}
	}
	ownedSecrets, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: a.selector()})
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	for _, s := range ownedSecrets.Items {
		if !wantSecrets[s.Name] && a.owns(s.Labels) {
			diff(s.Name, revision.Unexpected, revision.ResourceSecret)
		}
	}
	return out, nil
}

// secretData is a Secret's data as the API server keeps it: stringData is write-only there, but a fake
// client or an object read before admission may still carry it.
func secretData(data map[string][]byte, stringData map[string]string) map[string][]byte {
	if len(stringData) == 0 {
		return data
	}
	out := maps.Clone(data)
	if out == nil {
		out = map[string][]byte{}
	}
	for k, v := range stringData {
		out[k] = []byte(v)
	}
	return out
}

// Watch calls changed whenever a Component or Secret with the agent's labels is added, changed or
// deleted, until ctx ends. A watch the API server ends (they time out, the server restarts) is opened
// again, with backoff while it fails; each new watch starts with an event per existing object, which
// costs one comparison. The caller compares (Diff) rather than trusting the event, so the agent's own
// writes show no drift.
func (a *Applier) Watch(ctx context.Context, changed func()) error {
	sel := metav1.ListOptions{LabelSelector: a.selector()}
	open := []func(context.Context) (watch.Interface, error){
		func(ctx context.Context) (watch.Interface, error) {
			return a.dyn.Resource(ComponentGVR).Namespace(a.cfg.Namespace).Watch(ctx, sel)
		},
		func(ctx context.Context) (watch.Interface, error) {
			return a.core.CoreV1().Secrets(a.cfg.Namespace).Watch(ctx, sel)
		},
	}
	done := make(chan struct{}, len(open))
	for i, start := range open {
		what := []string{"components", "secrets"}[i]
		go func() {
			defer func() { done <- struct{}{} }()
			a.follow(ctx, what, start, changed)
		}()
	}
	for range open {
		<-done
	}
	return nil
}

func (a *Applier) follow(ctx context.Context, what string, start func(context.Context) (watch.Interface, error), changed func()) {
	b := retry.New(time.Second, time.Minute)
	for ctx.Err() == nil {
		w, err := start(ctx)
		if err != nil {
			d := b.Next()
			a.log.WarnContext(ctx, "watching the agent's objects failed, will retry", "objects", what, "err", err, "retryIn", d)
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
			continue
		}
		opened := time.Now()
		if !a.drain(ctx, w, changed) {
			return
		}
		// The server ended the watch; something may have changed while none was open.
		changed()
		if time.Since(opened) < time.Second {
			// Ended at once: do not hammer a server that keeps doing that.
			select {
			case <-ctx.Done():
			case <-time.After(b.Next()):
			}
		} else {
			b.Reset()
		}
	}
}

// drain passes w's events on until the server ends it (true) or ctx ends (false).
func (a *Applier) drain(ctx context.Context, w watch.Interface, changed func()) bool {
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case ev, ok := <-w.ResultChan():
			if !ok {
				return true
			}
			if slices.Contains([]watch.EventType{watch.Added, watch.Modified, watch.Deleted}, ev.Type) {
				changed()
			}
		}
	}
}
