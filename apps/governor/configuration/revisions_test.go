package configuration_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/governor/configuration"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

func TestRevisionsAndRollback(t *testing.T) {
	e := newEnv(t)
	ctx := asUser("t1")
	e.director.set("t1", "rt-1", nil)
	rt := asRuntime("t1", "rt-1")

	c := mustCreate(t, ctx, e.svc, forRuntime("rt-1", withToken("log", "http://v1", str("token-1"))))
	steps := []struct {
		name string
		do   func() (*configuration.Configuration, error)
		rev  int
		url  string // of binding "log" in the effective configuration afterwards; "" when it is gone
		tok  string
	}{
		{"update", func() (*configuration.Configuration, error) {
			return e.svc.Update(ctx, c.ID, forRuntime("rt-1", withToken("log", "http://v2", str("token-2"))))
		}, 2, "http://v2", "token-2"},
		{"update keeping the secret", func() (*configuration.Configuration, error) {
			return e.svc.Update(ctx, c.ID, forRuntime("rt-1", withToken("log", "http://v3", nil)))
		}, 3, "http://v3", "token-2"},
		{"rollback to 1", func() (*configuration.Configuration, error) { return e.svc.Rollback(ctx, c.ID, 1) }, 4, "http://v1", "token-1"},
		{"delete", func() (*configuration.Configuration, error) { return e.svc.Delete(ctx, c.ID) }, 5, "", ""},
		{"rollback of the deleted to 3", func() (*configuration.Configuration, error) { return e.svc.Rollback(ctx, c.ID, 3) }, 6, "http://v3", "token-2"},
	}
	for _, st := range steps {
		got, err := st.do()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got.Revision != st.rev {
			t.Fatalf("%s: revision %d, want %d", st.name, got.Revision, st.rev)
		}
		eff, err := e.svc.Effective(rt, "rt-1")
		if err != nil {
			t.Fatalf("%s: effective: %v", st.name, err)
		}
		if st.url == "" {
			if len(eff.Bindings) != 0 {
				t.Fatalf("%s: bindings left: %+v", st.name, eff.Bindings)
			}
			continue
		}
		b := binding(t, eff, "log")
		if metadata(b.Binding, "url") != st.url || b.SecretMetadata[0].Value != st.tok {
			t.Fatalf("%s: effective log binding %+v, want url %s and token %s", st.name, b, st.url, st.tok)
		}
	}

	// The history, oldest first, in pages.
	first, err := e.svc.Revisions(ctx, c.ID, 4, "")
	if err != nil {
		t.Fatal(err)
	}
	rest, err := e.svc.Revisions(ctx, c.ID, 4, first.EndCursor)
	if err != nil {
		t.Fatal(err)
	}
	if first.TotalCount != 6 || !first.HasNextPage || len(first.Items) != 4 || len(rest.Items) != 2 || rest.HasNextPage {
		t.Fatalf("pages: %+v / %+v", first, rest)
	}
	all := append(first.Items, rest.Items...)
	for i, r := range all {
		if r.Revision != i+1 {
			t.Errorf("item %d is revision %d", i, r.Revision)
		}
	}
	if !all[4].Deleted || len(all[4].Bindings) != 0 || all[3].RolledBackFrom != 1 || all[5].RolledBackFrom != 3 {
		t.Errorf("tombstone or rollbacks wrong: %+v %+v %+v", all[3], all[4], all[5])
	}

	// Refused rollbacks change nothing.
	for _, rev := range []int{0, -1, 7, 99} {
		_, err := e.svc.Rollback(ctx, c.ID, rev)
		wantCode(t, err, apperr.CodeInvalidInput)
	}
	_, err = e.svc.Rollback(ctx, c.ID, 5)
	wantCode(t, err, apperr.CodeInvalidInput)
	_, err = e.svc.Rollback(ctx, "no-such-id", 1)
	wantCode(t, err, apperr.CodeNotFound)
	if got, _ := e.svc.Get(ctx, c.ID); got.Revision != 6 {
		t.Fatalf("revision %d after refused rollbacks", got.Revision)
	}
}

func TestDeletedConfiguration(t *testing.T) {
	e := newEnv(t)
	ctx := asUser("t1")
	c := mustCreate(t, ctx, e.svc, forRuntime("rt-1", httpBinding("log", "http://a")))
	tomb, err := e.svc.Delete(ctx, c.ID)
	if err != nil || !tomb.Deleted || tomb.Revision != 2 || tomb.Target.RuntimeID != "rt-1" {
		t.Fatalf("delete: %+v, %v", tomb, err)
	}
	_, err = e.svc.Get(ctx, c.ID)
	wantCode(t, err, apperr.CodeNotFound)
	_, err = e.svc.Delete(ctx, c.ID)
	wantCode(t, err, apperr.CodeNotFound)
	_, err = e.svc.Update(ctx, c.ID, forRuntime("rt-1", httpBinding("log", "http://b")))
	wantCode(t, err, apperr.CodeNotFound)
	if p, _ := e.svc.List(ctx, 10, ""); p.TotalCount != 0 {
		t.Errorf("deleted configuration listed: %+v", p)
	}
	// The runtime is free for a new configuration of its own.
	mustCreate(t, ctx, e.svc, forRuntime("rt-1", httpBinding("log", "http://c")))
	// ... which the old one cannot be restored over.
	_, err = e.svc.Rollback(ctx, c.ID, 1)
	wantCode(t, err, apperr.CodeAlreadyExists)
}

func TestOneConfigurationPerRuntime(t *testing.T) {
	e := newEnv(t)
	ctx := asUser("t1")
	first := mustCreate(t, ctx, e.svc, forRuntime("rt-1", httpBinding("log", "http://a")))
	_, err := e.svc.Create(ctx, forRuntime("rt-1", httpBinding("other", "http://b")))
	wantCode(t, err, apperr.CodeAlreadyExists)
	// Re-aiming another configuration at the runtime is refused the same way, and releases nothing.
	second := mustCreate(t, ctx, e.svc, forRuntime("rt-2", httpBinding("log", "http://b")))
	_, err = e.svc.Update(ctx, second.ID, forRuntime("rt-1", httpBinding("log", "http://b")))
	wantCode(t, err, apperr.CodeAlreadyExists)
	// Moving the first away frees rt-1.
	if _, err := e.svc.Update(ctx, first.ID, forLabels(map[string]string{"env": "prod"}, httpBinding("log", "http://a"))); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Update(ctx, second.ID, forRuntime("rt-1", httpBinding("log", "http://b"))); err != nil {
		t.Fatalf("rt-1 should be free: %v", err)
	}
}

// failingRevisions loses the history record of every revision while fail is set, as if the process died
// between writing a configuration and recording its revision.
type failingRevisions struct {
	*registry.Registry
	fail bool
}

func (f *failingRevisions) Mutate(ctx context.Context, s registry.Scope, id, writeID string, fn registry.MutateFunc) error {
	if f.fail && s.Kind == "configrevision" {
		return errors.New("lost")
	}
	return f.Registry.Mutate(ctx, s, id, writeID, fn)
}

func TestHistoryHealsAfterALostRecord(t *testing.T) {
	e := newEnv(t)
	store := &failingRevisions{Registry: e.reg}
	svc := configuration.NewService(store, e.director, e.hub, silent())
	ctx := asUser("t1")
	c := mustCreate(t, ctx, svc, forRuntime("rt-1", httpBinding("log", "http://1")))
	store.fail = true
	if _, err := svc.Update(ctx, c.ID, forRuntime("rt-1", httpBinding("log", "http://2"))); err != nil {
		t.Fatalf("a lost history record must not fail the write: %v", err)
	}
	// Rolling back to the unrecorded latest revision works from the configuration itself.
	store.fail = false
	if _, err := svc.Rollback(ctx, c.ID, 2); err != nil {
		t.Fatalf("rollback to the unrecorded revision: %v", err)
	}
	p, err := svc.Revisions(ctx, c.ID, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 3 {
		t.Fatalf("history has %d revisions, want 3", len(p.Items))
	}
	for i, r := range p.Items {
		if r.Revision != i+1 {
			t.Errorf("history item %d is revision %d", i, r.Revision)
		}
	}
	if metadata(p.Items[1].Bindings[0], "url") != "http://2" {
		t.Errorf("healed revision 2 holds %+v", p.Items[1])
	}
}

func TestPagingArguments(t *testing.T) {
	e := newEnv(t)
	ctx := asUser("t1")
	_, err := e.svc.List(ctx, 201, "")
	wantCode(t, err, apperr.CodeInvalidInput)
	_, err = e.svc.List(ctx, 10, "not-a-cursor")
	wantCode(t, err, apperr.CodeInvalidInput)
	for i := range 3 {
		mustCreate(t, ctx, e.svc, forRuntime("rt-"+string(rune('a'+i)), httpBinding("log", "http://x")))
	}
	p, err := e.svc.List(ctx, 2, "")
	if err != nil || len(p.Items) != 2 || !p.HasNextPage || p.TotalCount != 3 {
		t.Fatalf("page: %+v, %v", p, err)
	}
	p, err = e.svc.List(ctx, 2, p.EndCursor)
	if err != nil || len(p.Items) != 1 || p.HasNextPage {
		t.Fatalf("second page: %+v, %v", p, err)
	}
}
