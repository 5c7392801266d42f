package kube_test

import (
	"context"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/component"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/kube"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

func (c cluster) diff(t *testing.T, rev revision.Revision) []revision.Difference {
	t.Helper()
	d, err := c.app.Diff(context.Background(), rev)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDiffFindsDriftedObjectsAndApplyRestoresThem(t *testing.T) {
	c := newCluster(t, nil)
	rev := fixture()
	c.apply(t, rev)
	if d := c.diff(t, rev); len(d) != 0 {
		t.Fatalf("drift right after applying: %+v", d)
	}
	ctx := context.Background()
	comps := c.dyn.Resource(kube.ComponentGVR).Namespace(ns)

	// kubectl's annotations and someone's labels are theirs: no drift.
	ticker, _ := c.component(t, "ticker")
	ticker.SetAnnotations(map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}", component.ManagedByAnnotation: component.ManagedByAgent})
	l := ticker.GetLabels()
	l["team"] = "blue"
	ticker.SetLabels(l)
	if _, err := comps.Update(ctx, ticker, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := c.diff(t, rev); len(d) != 0 {
		t.Fatalf("drift from annotations and labels: %+v", d)
	}

	// Now the real thing: the spec edited, a component deleted, a secret changed, a stray component.
	ticker, _ = c.component(t, "ticker")
	if err := unstructured.SetNestedSlice(ticker.Object, []any{map[string]any{"name": "schedule", "value": "@every 1s"}}, "spec", "metadata"); err != nil {
		t.Fatal(err)
	}
	if _, err := comps.Update(ctx, ticker, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := comps.Delete(ctx, "logging", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	sec, _ := c.secret(t, "mgmtplane-agent-logging")
	sec.Data["securityToken"] = []byte("guessed")
	if _, err := c.core.CoreV1().Secrets(ns).Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	stray := ticker.DeepCopy()
	stray.SetName("stray")
	stray.SetResourceVersion("")
	if _, err := comps.Create(ctx, stray, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []revision.Difference{
		{Component: "logging", Kind: revision.Modified, Resource: revision.ResourceSecret},
		{Component: "logging", Kind: revision.Missing, Resource: revision.ResourceComponent},
		{Component: "ticker", Kind: revision.Modified, Resource: revision.ResourceComponent},
		{Component: "stray", Kind: revision.Unexpected, Resource: revision.ResourceComponent},
	}
	if got := c.diff(t, rev); !slices.Equal(got, want) {
		t.Fatalf("drift\n got %+v\nwant %+v", got, want)
	}

	c.apply(t, rev)
	if d := c.diff(t, rev); len(d) != 0 {
		t.Fatalf("drift after applying again: %+v", d)
	}
	if s, _ := c.secret(t, "mgmtplane-agent-logging"); string(s.Data["securityToken"]) != "s3cr3t" {
		t.Fatal("secret not restored")
	}
}

func TestWatchSeesTheAgentsObjectsChange(t *testing.T) {
	c := newCluster(t, nil)
	c.apply(t, fixture())
	changed := make(chan struct{}, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.app.Watch(ctx, func() { changed <- struct{}{} }) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Watch did not end with its context")
		}
	}()
	time.Sleep(100 * time.Millisecond) // the watches are open
	for len(changed) > 0 {
		<-changed
	}
	if err := c.dyn.Resource(kube.ComponentGVR).Namespace(ns).Delete(context.Background(), "ticker", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(2 * time.Second):
		t.Fatal("deleting a component was not seen")
	}
	for len(changed) > 0 {
		<-changed
	}
	if err := c.core.CoreV1().Secrets(ns).Delete(context.Background(), "mgmtplane-agent-logging", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(2 * time.Second):
		t.Fatal("deleting a secret was not seen")
	}
}
