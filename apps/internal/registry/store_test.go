package registry_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

// racer is a state store seen by one replica: before that replica's first transaction commits, another
// replica's write (race) lands, as if both had read the same state at the same moment.
type racer struct {
	*memstate.Store
	once sync.Once
	race func()
}

func (r *racer) ExecuteStateTransaction(ctx context.Context, store string, meta map[string]string, ops []*dapr.StateOperation) error {
	r.once.Do(r.race)
	return r.Store.ExecuteStateTransaction(ctx, store, meta, ops)
}

// Two replicas of an app create the first member of the same index at once: both insert the index head
// (a first-write), and the one that comes second must read again and retry, whatever words its store finds
// for "taken" — state.postgresql says "no item was updated", not "etag".
func TestReplicasCreatingTheSameIndexHead(t *testing.T) {
	for name, conflict := range map[string]error{
		"etag mismatch (state.sqlite)":           nil,
		"no item was updated (state.postgresql)": memstate.ErrNoItemUpdated,
	} {
		t.Run(name, func(t *testing.T) {
			st := memstate.New()
			st.InsertConflict = conflict
			s := registry.Scope{Tenant: "t", Kind: "application"}
			other := registry.New(st, "registry")
			slow := registry.New(&racer{Store: st, race: func() { put(t, other, s, "b", item{Name: "b"}, "fresh") }}, "registry")
			put(t, slow, s, "a", item{Name: "a"}, "fresh")
			if got := listAll(t, other, s, "fresh", 10); fmt.Sprint(got) != "[b a]" {
				t.Fatalf("index fresh lists %v, want [b a]", got)
			}
		})
	}
}

// Keys are bounded whatever the names and index names: stores refuse long keys (state.sqlserver 200
// characters, state.mysql 255, PostgreSQL's index about 2.7 kB), and Dapr adds the app id in front.
func TestLongKeysAreShortenedAndStayApart(t *testing.T) {
	st := memstate.New()
	r := registry.New(st, "registry")
	s := registry.Scope{Tenant: "t", Kind: "runtimecontext-" + strings.Repeat("r", 36)}
	long := strings.Repeat("k", 300)
	// Two index names and two unique keys that differ only past the cut; the unique keys are made of
	// three-byte characters, so that the cut falls inside one.
	ixA, ixB := "lv:"+long+":a", "lv:"+long+":b"
	uniqA, uniqB := "key:"+strings.Repeat("€", 100)+"-a", "key:"+strings.Repeat("€", 100)+"-b"
	for id, c := range map[string]registry.Change{
		"a": {Data: item{Name: "a"}, Indexes: []string{ixA}, Unique: []string{uniqA}},
		"b": {Data: item{Name: "b"}, Indexes: []string{ixB}, Unique: []string{uniqB}},
	} {
		if err := r.Mutate(context.Background(), s, id, "", func([]byte) (registry.Change, error) { return c, nil }); err != nil {
			t.Fatalf("put %s: %v", id, err)
		}
	}
	for _, k := range st.Keys() {
		if len(k) > registry.MaxKeyLen {
			t.Errorf("key of %d bytes reached the store: %.60s...", len(k), k)
		}
		if !utf8.ValidString(k) {
			t.Errorf("key is not valid UTF-8: %q", k)
		}
	}
	for ix, want := range map[string]string{ixA: "[a]", ixB: "[b]"} {
		if got := listAll(t, r, s, ix, 10); fmt.Sprint(got) != want {
			t.Errorf("index %.20s...%s lists %v, want %s", ix, ix[len(ix)-2:], got, want)
		}
	}
	for key, want := range map[string]string{uniqA: "a", uniqB: "b"} {
		if owner, err := r.Owner(context.Background(), s, key); err != nil || owner != want {
			t.Errorf("owner of %.20s...%s: %q %v, want %s", key, key[len(key)-2:], owner, err, want)
		}
	}
	// The long unique key is still unique.
	err := r.Mutate(context.Background(), s, "c", "", func([]byte) (registry.Change, error) {
		return registry.Change{Data: item{Name: "c"}, Unique: []string{uniqA}}, nil
	})
	if err == nil {
		t.Fatal("a second entity claimed a long unique key")
	}
}

// loser is a store on which another replica commits first, again and again: the first n transactions
// fail their ETag checks.
type loser struct {
	*memstate.Store
	mu   sync.Mutex
	lose int
}

func (l *loser) ExecuteStateTransaction(ctx context.Context, store string, meta map[string]string, ops []*dapr.StateOperation) error {
	l.mu.Lock()
	lost := l.lose > 0
	l.lose--
	l.mu.Unlock()
	if lost {
		return fmt.Errorf("possible etag mismatch. error from state store: etag mismatch")
	}
	return l.Store.ExecuteStateTransaction(ctx, store, meta, ops)
}

// A writer that loses many times in a row to another replica keeps trying within its time budget, instead
// of failing after a fixed number of attempts: each loss was someone else's progress.
func TestWriterLosingManyTimesStillCommits(t *testing.T) {
	st := &loser{Store: memstate.New(), lose: 30}
	reg := registry.New(st, "registry")
	s := registry.Scope{Tenant: "t1", Kind: "widget"}
	err := reg.Mutate(context.Background(), s, "w1", "", func([]byte) (registry.Change, error) {
		return registry.Change{Data: map[string]string{"name": "w1"}}, nil
	})
	if err != nil {
		t.Fatalf("after 30 conflicts: %v", err)
	}
	var got map[string]string
	if err := reg.Get(context.Background(), s, "w1", &got); err != nil || got["name"] != "w1" {
		t.Fatalf("%v %v", got, err)
	}
}
