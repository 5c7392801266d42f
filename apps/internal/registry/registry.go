// Package registry is the management plane's persistent storage: entities kept in a Dapr state store, scoped
// per tenant, with ordered indexes for cursor pagination. It is the only package that touches the Dapr
// state API; which store sits behind it (state.sqlite locally, state.redis, state.postgresql, ...) is decided
// by component YAML alone.
//
// Layout of the keys (tenant ids cannot contain '/'):
//
//	t/<tenant>/<kind>/e/<id>              one entity, wrapped in an envelope
//	t/<tenant>/<kind>/i/<index>/h         an index head: next sequence number and member count
//	t/<tenant>/<kind>/i/<index>/b/<n>     an index bucket: up to BucketSize members, in insertion order
//	t/<tenant>/<kind>/u/<key>             a unique key (such as a name) claimed by one entity
//
// A key longer than MaxKeyLen ends in a hash instead, because stores limit key lengths.
//
// Every entity belongs to the index "all" of its kind; more indexes (by label, by parent) are named by
// the caller. A write changes the entity, the heads and the buckets it touches in one state transaction
// guarded by ETags, and retries from a fresh read when another writer got there first. So concurrent
// writers never lose an update and a page costs the same however deep it is: a cursor names a sequence
// number, which names the bucket to start from.
package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

// Errors callers can test for with errors.Is.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	// ErrContention carries a client-facing code: the write can simply be tried again.
	ErrContention    = &apperr.Error{Code: apperr.CodeUnavailable, Message: "too many concurrent writers, try again"}
	ErrInvalidCursor = errors.New("invalid cursor")
)

// StateAPI is the part of the Dapr state API the registry needs; *dapr.GRPCClient implements it.
type StateAPI interface {
	GetState(ctx context.Context, storeName, key string, meta map[string]string) (*dapr.StateItem, error)
	GetBulkState(ctx context.Context, storeName string, keys []string, meta map[string]string, parallelism int32) ([]*dapr.BulkStateItem, error)
	ExecuteStateTransaction(ctx context.Context, storeName string, meta map[string]string, ops []*dapr.StateOperation) error
	SaveState(ctx context.Context, storeName, key string, data []byte, meta map[string]string, so ...dapr.StateOption) error
	DeleteState(ctx context.Context, storeName, key string, meta map[string]string) error
}

// BucketSize is how many index members share one stored bucket. Pages read one or two buckets.
const BucketSize = 256

// IndexAll is the index every entity of a kind belongs to.
const IndexAll = "all"

// contentionBudget is how long a write keeps trying again after ETag conflicts before it gives up with
// ErrContention. A conflict means another writer committed, so the writers as a whole always make progress;
// what a budget guards against is one writer losing for ever. A count of attempts did not: two Director
// replicas writing into one tenant (BenchmarkRegistrationThroughput) made a writer lose 12 times in a row
// within a second, because the other replica's queue kept committing while it backed off.
const contentionBudget = 5 * time.Second

// Registry stores entities in the Dapr state store named by storeName.
type Registry struct {
	api   StateAPI
	store string

	outboxTenants sync.Map                  // tenants known to have an outbox
	writers       sync.Map                  // tenant -> *tenantQueue: one write (or group, see group.go) at a time per tenant in this process
	stripes       [entityStripes]sync.Mutex // writes that touch only their entity, by entity (see shared.go)
	nextHints     sync.Map                  // head key -> its Next when last read, to guess buckets (see prefetch)
	locks         bool

	// kick wakes the relay after a write with events; dirty names the tenants written since its last pass,
	// so that a kicked pass reads only their outboxes.
	kick    chan struct{}
	dirtyMu sync.Mutex
	dirty   map[string]struct{}
}

// New returns a registry over the state store component storeName.
func New(api StateAPI, storeName string, opts ...Option) *Registry {
	r := &Registry{api: api, store: storeName, kick: make(chan struct{}, 1), dirty: map[string]struct{}{}}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Scope names a tenant's entities of one kind, such as ("t1", "application").
type Scope struct {
	Tenant string
	Kind   string
}

func (s Scope) entityKey(id string) string {
	return storeKey("t/" + s.Tenant + "/" + s.Kind + "/e/" + id)
}
func (s Scope) headKey(index string) string {
	return storeKey("t/" + s.Tenant + "/" + s.Kind + "/i/" + index + "/h")
}
func (s Scope) uniqueKey(key string) string {
	return storeKey("t/" + s.Tenant + "/" + s.Kind + "/u/" + key)
}
func (s Scope) bucketKey(index string, n int64) string {
	return storeKey("t/" + s.Tenant + "/" + s.Kind + "/i/" + index + "/b/" + strconv.FormatInt(n, 10))
}

// MaxKeyLen bounds the keys the registry gives the store. Label keys (256 characters), runtime context keys
// (512) and names make longer ones, but stores limit keys: state.sqlserver to 200 characters by default,
// state.mysql to 255, PostgreSQL's primary-key index to about 2.7 kB, and Dapr puts the app id in front
// ("director||"). So a longer key keeps its start, which stays readable, and ends in a hash of the whole,
// which keeps keys apart. No key is ever parsed back, so the shortening is invisible to callers.
const MaxKeyLen = 180

func storeKey(k string) string {
	if len(k) <= MaxKeyLen {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	hash := hex.EncodeToString(sum[:16])
	cut := MaxKeyLen - len(hash) - 1
	// Stores keep keys as text (PostgreSQL refuses invalid UTF-8): never cut inside a character.
	for cut > 0 && !utf8.RuneStart(k[cut]) {
		cut--
	}
	return k[:cut] + "#" + hash
}

// envelope is what is stored under an entity key.
type envelope struct {
	Data json.RawMessage `json:"data"`
	// Indexes maps each index the entity is in to its sequence number there.
	Indexes map[string]int64 `json:"idx"`
	// Unique lists the unique keys the entity holds.
	Unique []string `json:"uniq,omitempty"`
	// WriteID identifies the write that created or last changed the entity, so that a write retried after
	// a lost answer recognises its own result instead of failing or writing twice.
	WriteID string `json:"wid,omitempty"`
}

type head struct {
	Next  int64 `json:"next"`
	Count int64 `json:"count"`
	// First is a low-water mark: no member has a smaller sequence number, so pages start there instead of
	// reading the empty buckets below. Only the outbox's pending index, which is emptied from the front as
	// its records are published, keeps it; elsewhere it stays 0, as in heads written before it existed.
	First int64 `json:"first,omitempty"`
}

type member struct {
	Seq int64  `json:"s"`
	ID  string `json:"id"`
}

// Owner returns the id of the entity holding unique key in scope s, or ErrNotFound.
func (r *Registry) Owner(ctx context.Context, s Scope, key string) (string, error) {
	var id string
	_, found, err := r.getJSON(ctx, s.uniqueKey(key), &id)
	if err != nil {
		return "", err
	}
	if !found {
		return "", fmt.Errorf("%s %s: %w", s.Kind, key, ErrNotFound)
	}
	return id, nil
}

// Get reads one entity into out.
func (r *Registry) Get(ctx context.Context, s Scope, id string, out any) error {
	env, _, err := r.getEnvelope(ctx, s.entityKey(id))
	if err != nil {
		return fmt.Errorf("get %s %s: %w", s.Kind, id, err)
	}
	if env == nil {
		return fmt.Errorf("get %s %s: %w", s.Kind, id, ErrNotFound)
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("decode %s %s: %w", s.Kind, id, err)
	}
	return nil
}

// GetMany reads entities by id, in order; ids that do not exist are left out. Each element is decoded with
// decode, which should keep what it needs.
func (r *Registry) GetMany(ctx context.Context, s Scope, ids []string, decode func(id string, data []byte) error) error {
	return r.bulkGet(ctx, s, ids, s.entityKey, func(id, key string, raw []byte) error {
		var env envelope
		if err := json.Unmarshal(raw, &env); err != nil {
			return fmt.Errorf("decode %s: %w", key, err)
		}
		return decode(id, env.Data)
	})
}

// bulkGet reads the keys that keyOf gives ids in one bulk read and calls found with each that exists, in
// the order of ids.
func (r *Registry) bulkGet(ctx context.Context, s Scope, ids []string, keyOf func(id string) string, found func(id, key string, raw []byte) error) error {
	if len(ids) == 0 {
		return nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = keyOf(id)
	}
	items, err := r.api.GetBulkState(ctx, r.store, keys, nil, 8)
	if err != nil {
		return fmt.Errorf("get %d %s: %w", len(ids), s.Kind, err)
	}
	byKey := make(map[string][]byte, len(items))
	for _, it := range items {
		if it.Error != "" {
			return fmt.Errorf("get %s: %s", it.Key, it.Error)
		}
		byKey[it.Key] = it.Value
	}
	for i, k := range keys {
		if raw := byKey[k]; len(raw) > 0 {
			if err := found(ids[i], k, raw); err != nil {
				return err
			}
		}
	}
	return nil
}

// Change describes what a write does to one entity. Put nil Data to delete the entity.
type Change struct {
	Data    any
	Indexes []string // indexes besides IndexAll the entity belongs to after the write
	// Unique keys the entity holds after the write (a name, say). Claiming a key another entity of the same
	// scope holds fails with ErrAlreadyExists. Nil keeps the keys the entity has; deleting releases them.
	Unique []string
	// Events announce the change on pub/sub once it is written (see Relay).
	Events []Event
	// TTL, when positive, lets the state store delete the entity on its own after this long (Dapr's
	// ttlInSeconds, rounded up to whole seconds). The store deletes it without the registry knowing, so
	// such an entity joins no index, not even IndexAll, and may hold no unique keys: nothing could take it
	// out of them. Reads may still see it until the store gets round to deleting it, so callers that care
	// keep an expiry time in Data and check it too.
	TTL time.Duration
}

type operation = *dapr.StateOperation

// MutateFunc receives the entity's current data (nil when it does not exist) and returns the change to make.
// It may run more than once when writers collide, so it must not have side effects.
type MutateFunc func(current []byte) (Change, error)

// Mutate reads the entity id, lets fn decide its new state and writes it together with the index changes,
// atomically and with optimistic concurrency. writeID, when not empty, makes a retried call idempotent: if
// the stored entity was last written with the same writeID, Mutate returns without writing.
func (r *Registry) Mutate(ctx context.Context, s Scope, id, writeID string, fn MutateFunc) error {
	// Recorded before any lock is taken, because recording is itself a (global) write.
	if s.Kind != outboxTenantsKind {
		if err := r.knowOutboxTenant(ctx, s.Tenant); err != nil {
			return err
		}
	}
	var err error
	if r.locks {
		// Every write takes the tenant's lock in the store (see WithTenantLocks), so it may as well queue.
		err = r.queueWrite(ctx, s, id, writeID, fn, nil)
	} else {
		err = r.mutateShared(ctx, s, id, writeID, fn)
	}
	if errors.Is(err, ErrContention) {
		return fmt.Errorf("write %s %s: %w", s.Kind, id, err)
	}
	return err
}

// exclusive runs attempt, a read-then-commit of the tenant's data, until it commits without an ETag conflict.
// Writers of a tenant in this process queue up first: they touch the same index heads, and queueing costs
// less than the retries they would cause each other. ETags still guard against other processes, and
// stores without atomic transactions also take the tenant's lock in the store. Writes that touch none of
// those heads do not queue here (see mutateShared).
func (r *Registry) exclusive(ctx context.Context, tenant string, attempt func() error) error {
	q := r.tenantQueue(tenant)
	q.turn.Lock()
	defer q.turn.Unlock()
	return r.retry(ctx, func() error {
		unlock, err := r.lock(ctx, tenant)
		if err != nil {
			return err
		}
		defer unlock()
		return attempt()
	})
}

// retry runs attempt until it ends in anything but an ETag conflict, or the contention budget is spent.
func (r *Registry) retry(ctx context.Context, attempt func() error) error {
	start := time.Now()
	for n := 0; ; n++ {
		err := attempt()
		if !errors.Is(err, errConflict) {
			return err
		}
		if time.Since(start) > contentionBudget {
			return ErrContention
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(conflictBackoff(n)):
		}
	}
}

// conflictBackoff is the pause before the attempt after the nth conflict: jittered so that colliding
// writers spread out, but brief: the writers of a tenant in this process queue behind this one, so the
// other side is a handful of replicas, and a long sleep only hands the tenant to their queues.
func conflictBackoff(n int) time.Duration {
	return time.Duration(1+rand.IntN(2<<min(n, 4))) * time.Millisecond
}

var errConflict = errors.New("etag conflict")

func (r *Registry) mutateOnce(ctx context.Context, s Scope, id, writeID string, fn MutateFunc) error {
	// A write that will carry the request's audit record will join the outbox: its head and likely bucket
	// are read together with the entity.
	var outbox bool
	if s.Kind != outboxTenantsKind {
		outbox = riderPending(ctx)
	}
	w, err := r.decide(ctx, s, id, writeID, fn, outbox)
	if err != nil || w == nil {
		return err
	}
	return r.apply(ctx, w)
}

// decided is a write fn decided on: the entity as read and the change to make to it.
type decided struct {
	s       Scope
	id      string
	writeID string
	cur     *envelope // nil when the entity does not exist
	etag    string
	ch      Change
	snap    snapshot // what was read with the entity, if anything
}

// decide reads the entity and lets fn decide the change; nil means there is nothing to write. With outbox,
// the tenant's outbox head and the bucket it likely appends to are read in the same round trip.
func (r *Registry) decide(ctx context.Context, s Scope, id, writeID string, fn MutateFunc, outbox bool) (*decided, error) {
	var snap snapshot
	var cur *envelope
	var etag string
	var err error
	if outbox {
		snap = snapshot{}
		cur, etag, err = r.readWithOutbox(ctx, snap, s, id)
	} else {
		cur, etag, err = r.getEnvelope(ctx, s.entityKey(id))
	}
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", s.Kind, id, err)
	}
	return decideOn(s, id, writeID, fn, cur, etag, snap)
}

// decideOn lets fn decide the change to the entity as read (cur, nil when it does not exist, under etag),
// with snap what was read along with it; nil means there is nothing to write.
func decideOn(s Scope, id, writeID string, fn MutateFunc, cur *envelope, etag string, snap snapshot) (*decided, error) {
	if cur != nil && writeID != "" && cur.WriteID == writeID {
		return nil, nil
	}
	var curData []byte
	if cur != nil {
		curData = cur.Data
	}
	ch, err := fn(curData)
	if err != nil {
		return nil, err
	}
	if ch.Data == nil && cur == nil {
		return nil, nil // nothing to delete: no write, so nothing rides along
	}
	return &decided{s: s, id: id, writeID: writeID, cur: cur, etag: etag, ch: ch, snap: snap}, nil
}

// readWithOutbox reads the entity, the tenant's outbox head and its likely bucket into snap in one bulk read
// and returns the entity.
func (r *Registry) readWithOutbox(ctx context.Context, snap snapshot, s Scope, id string) (*envelope, string, error) {
	if err := r.bulk(ctx, snap, append([]string{s.entityKey(id)}, r.outboxKeys(s.Tenant)...)); err != nil {
		return nil, "", err
	}
	return envelopeIn(snap, s.entityKey(id))
}

// outboxKeys are the tenant's outbox head and the bucket its next record likely goes to, which a write that
// may carry events reads along with its entity.
func (r *Registry) outboxKeys(tenant string) []string {
	os := Scope{Tenant: tenant, Kind: outboxKind}
	keys := []string{os.headKey(outboxIndex)}
	if bk, ok := r.bucketHint(os, outboxIndex); ok {
		keys = append(keys, bk)
	}
	return keys
}

// envelopeIn decodes the entity stored under key as read into snap, nil when it does not exist, and its ETag.
func envelopeIn(snap snapshot, key string) (*envelope, string, error) {
	it := snap[key]
	if len(it.value) == 0 {
		return nil, "", nil
	}
	var env envelope
	if err := json.Unmarshal(it.value, &env); err != nil {
		return nil, "", fmt.Errorf("decode %s: %w", key, err)
	}
	return &env, it.etag, nil
}

// wantIndexes returns the indexes the entity is in after the change.
func (w *decided) wantIndexes() map[string]bool {
	want := map[string]bool{}
	if w.ch.Data != nil {
		if w.ch.TTL <= 0 {
			want[IndexAll] = true
		}
		for _, ix := range w.ch.Indexes {
			want[ix] = true
		}
	}
	return want
}

// nextUnique returns the unique keys the entity holds after the change.
func (w *decided) nextUnique() []string {
	switch {
	case w.ch.Data == nil:
		return nil
	case w.ch.Unique == nil && w.cur != nil:
		return w.cur.Unique
	default:
		return w.ch.Unique
	}
}

// apply makes the decided write: the entity, the indexes and unique keys it joins or leaves and the outbox
// record of its events, in one transaction guarded by ETags.
func (r *Registry) apply(ctx context.Context, w *decided) error {
	p, err := r.plan(ctx, w)
	if err != nil {
		return err
	}
	err = r.commit(ctx, p.ops)
	p.settle(err == nil)
	if err == nil && p.events {
		r.signalRelay(w.s.Tenant)
	}
	return err
}

// planned is a decided write's transaction, not yet committed. settle must be called with its outcome: it
// hands the request's audit record, if the write claimed it, to the next write when this one failed.
type planned struct {
	ops    []*dapr.StateOperation
	events bool // it carries events: the relay is kicked once it commits
	settle func(written bool)
}

// plan works out the operations of the decided write, reading what they touch into w.snap first.
func (r *Registry) plan(ctx context.Context, w *decided) (p *planned, err error) {
	s, id, cur, etag, ch := w.s, w.id, w.cur, w.etag, w.ch
	key := s.entityKey(id)
	var rider []Event
	settle := func(bool) {}
	if s.Kind != outboxTenantsKind { // the registry's own bookkeeping is not the caller's change
		rider, settle = claimFirstWrite(ctx)
	}
	defer func() {
		if err != nil {
			settle(false)
		}
	}()
	ch.Events = append(slices.Clip(ch.Events), rider...)
	if ch.TTL > 0 && ch.Data != nil && (len(ch.Indexes) > 0 || len(ch.Unique) > 0 || (cur != nil && len(cur.Unique) > 0)) {
		return nil, fmt.Errorf("write %s %s: an entity with a TTL cannot join indexes or hold unique keys", s.Kind, id)
	}

	var ops []*dapr.StateOperation
	next := envelope{Indexes: map[string]int64{}, WriteID: w.writeID, Unique: w.nextUnique()}
	want := w.wantIndexes()
	if ch.Data != nil {
		if next.Data, err = json.Marshal(ch.Data); err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", s.Kind, id, err)
		}
	}
	var had map[string]int64
	var hadUnique []string
	if cur != nil {
		had, hadUnique = cur.Indexes, cur.Unique
	}
	snap := w.snap
	if snap == nil {
		snap = snapshot{}
	}
	if err := r.prefetch(ctx, snap, s, had, want, hadUnique, next.Unique, len(ch.Events) > 0); err != nil {
		return nil, err
	}

	// Index removals and additions, in a stable order so that concurrent writers touch keys alike.
	names := make([]string, 0, len(had)+len(want))
	for ix := range had {
		names = append(names, ix)
	}
	for ix := range want {
		if _, ok := had[ix]; !ok {
			names = append(names, ix)
		}
	}
	slices.Sort(names)
	for _, ix := range names {
		seq, isIn := had[ix]
		switch {
		case isIn && want[ix]:
			next.Indexes[ix] = seq
		case isIn:
			iops, err := r.removeMember(ctx, snap, s, ix, seq, id)
			if err != nil {
				return nil, err
			}
			ops = append(ops, iops...)
		default:
			seq, iops, err := r.addMember(ctx, snap, s, ix, id)
			if err != nil {
				return nil, err
			}
			next.Indexes[ix] = seq
			ops = append(ops, iops...)
		}
	}

	uops, err := r.uniqueChanges(ctx, snap, s, id, hadUnique, next.Unique)
	if err != nil {
		return nil, err
	}
	ops = append(ops, uops...)

	outbox, err := r.outboxOps(ctx, snap, s.Tenant, ch.Events)
	if err != nil {
		return nil, err
	}
	ops = append(ops, outbox...)

	if ch.Data == nil {
		ops = append(ops, &dapr.StateOperation{Type: dapr.StateOperationTypeDelete, Item: &dapr.SetStateItem{
			Key: key, Etag: &dapr.ETag{Value: etag},
		}})
	} else {
		raw, err := json.Marshal(next)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", s.Kind, id, err)
		}
		op := upsert(key, raw, etag)
		op.Item.Metadata = ttlMetadata(ch.TTL)
		ops = append(ops, op)
	}
	return &planned{ops: ops, events: len(ch.Events) > 0, settle: settle}, nil
}

// uniqueChanges claims the unique keys in want that are not in had and releases those no longer wanted.
func (r *Registry) uniqueChanges(ctx context.Context, snap snapshot, s Scope, id string, had, want []string) ([]*dapr.StateOperation, error) {
	var ops []*dapr.StateOperation
	for _, k := range want {
		if slices.Contains(had, k) {
			continue
		}
		var owner string
		_, found, err := r.readJSON(ctx, snap, s.uniqueKey(k), &owner)
		if err != nil {
			return nil, err
		}
		if found && owner != id {
			return nil, fmt.Errorf("%s %s: %w", s.Kind, k, ErrAlreadyExists)
		}
		raw, _ := json.Marshal(id)
		// First-write: if another writer claims the key meanwhile, the transaction fails and is retried.
		ops = append(ops, upsert(s.uniqueKey(k), raw, ""))
	}
	for _, k := range had {
		if slices.Contains(want, k) {
			continue
		}
		var owner string
		etag, found, err := r.readJSON(ctx, snap, s.uniqueKey(k), &owner)
		if err != nil {
			return nil, err
		}
		if found && owner == id {
			ops = append(ops, &dapr.StateOperation{Type: dapr.StateOperationTypeDelete, Item: &dapr.SetStateItem{
				Key: s.uniqueKey(k), Etag: &dapr.ETag{Value: etag},
			}})
		}
	}
	return ops, nil
}

// upsert writes value under key if its ETag is still etag; an empty etag means the key must not exist yet.
func upsert(key string, value []byte, etag string) *dapr.StateOperation {
	item := &dapr.SetStateItem{Key: key, Value: value}
	if etag == "" {
		item.Options = &dapr.StateOptions{Concurrency: dapr.StateConcurrencyFirstWrite}
	} else {
		item.Etag = &dapr.ETag{Value: etag}
		item.Options = &dapr.StateOptions{Concurrency: dapr.StateConcurrencyFirstWrite}
	}
	return &dapr.StateOperation{Type: dapr.StateOperationTypeUpsert, Item: item}
}

func (r *Registry) commit(ctx context.Context, ops []*dapr.StateOperation) error {
	err := r.api.ExecuteStateTransaction(ctx, r.store, nil, ops)
	if err == nil {
		return nil
	}
	if isETagMismatch(err) {
		return errConflict
	}
	return fmt.Errorf("state transaction: %w", err)
}

// isETagMismatch recognises the store's "someone else wrote first" answer. Dapr wraps it into a generic
// transaction error, so the message is all there is to go on.
func isETagMismatch(err error) bool {
	msg := strings.ToLower(err.Error())
	for _, s := range conflictMessages {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// conflictMessages are what the stores say when another writer got there first; every one of them means the
// write changed nothing and can be tried again from a fresh read.
var conflictMessages = []string{
	// A failed ETag check, in the words of state.sqlite and state.postgresql (and of most stores).
	"etag",
	// state.redis reports failed checks from its scripts as "failed to set key" / "failed to delete".
	"failed to set key", "failed to delete",
	// state.postgresql (v2) answers a first-write insert of a key that exists with a plain error, not an
	// ETag error: two replicas creating the same index head, bucket or unique key at once.
	"no item was updated",
	// PostgreSQL ends one of two transactions that wait on each other's rows (40P01) or that cannot be
	// serialised (40001), and rolls it back whole.
	"deadlock detected", "could not serialize access",
	// state.sqlite in WAL mode fails a transaction whose snapshot another connection's commit made stale
	// (SQLITE_BUSY_SNAPSHOT, "database is locked (517)": the component's own background writes, or another
	// process on the file), and rolls it back whole; waiting on the lock cannot help it, a fresh read can.
	"database is locked",
}

func (r *Registry) getEnvelope(ctx context.Context, key string) (*envelope, string, error) {
	item, err := r.api.GetState(ctx, r.store, key, nil)
	if err != nil {
		return nil, "", err
	}
	if item == nil || len(item.Value) == 0 {
		return nil, "", nil
	}
	var env envelope
	if err := json.Unmarshal(item.Value, &env); err != nil {
		return nil, "", fmt.Errorf("decode %s: %w", key, err)
	}
	return &env, item.Etag, nil
}

func (r *Registry) getJSON(ctx context.Context, key string, out any) (etag string, found bool, err error) {
	item, err := r.api.GetState(ctx, r.store, key, nil)
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", key, err)
	}
	if item == nil || len(item.Value) == 0 {
		return "", false, nil
	}
	if err := json.Unmarshal(item.Value, out); err != nil {
		return "", false, fmt.Errorf("decode %s: %w", key, err)
	}
	return item.Etag, true, nil
}

// addMember appends id to an index and returns its sequence number and the writes to make.
func (r *Registry) addMember(ctx context.Context, snap snapshot, s Scope, index, id string) (int64, []*dapr.StateOperation, error) {
	var h head
	hEtag, _, err := r.readJSON(ctx, snap, s.headKey(index), &h)
	if err != nil {
		return 0, nil, err
	}
	seq := h.Next
	h.Next++
	h.Count++
	bkey := s.bucketKey(index, seq/BucketSize)
	var b []member
	bEtag, _, err := r.readJSON(ctx, snap, bkey, &b)
	if err != nil {
		return 0, nil, err
	}
	b = append(b, member{Seq: seq, ID: id})
	hraw, _ := json.Marshal(h)
	braw, _ := json.Marshal(b)
	return seq, []*dapr.StateOperation{upsert(s.headKey(index), hraw, hEtag), upsert(bkey, braw, bEtag)}, nil
}

// removeMember takes the member with sequence number seq out of an index.
func (r *Registry) removeMember(ctx context.Context, snap snapshot, s Scope, index string, seq int64, id string) ([]*dapr.StateOperation, error) {
	var h head
	hEtag, found, err := r.readJSON(ctx, snap, s.headKey(index), &h)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("index %s of %s/%s has no head", index, s.Tenant, s.Kind)
	}
	h.Count--
	bkey := s.bucketKey(index, seq/BucketSize)
	var b []member
	bEtag, _, err := r.readJSON(ctx, snap, bkey, &b)
	if err != nil {
		return nil, err
	}
	b = slices.DeleteFunc(b, func(m member) bool { return m.Seq == seq && m.ID == id })
	hraw, _ := json.Marshal(h)
	ops := []*dapr.StateOperation{upsert(s.headKey(index), hraw, hEtag)}
	if len(b) == 0 {
		// An empty bucket is deleted; pages skip missing buckets.
		ops = append(ops, &dapr.StateOperation{Type: dapr.StateOperationTypeDelete, Item: &dapr.SetStateItem{
			Key: bkey, Etag: &dapr.ETag{Value: bEtag},
		}})
	} else {
		braw, _ := json.Marshal(b)
		ops = append(ops, upsert(bkey, braw, bEtag))
	}
	return ops, nil
}

// Page is one page of an index.
type Page struct {
	IDs []string
	// Cursors[i] continues the index right after IDs[i], for callers that stop part-way through a page.
	Cursors     []string
	EndCursor   string
	HasNextPage bool
	TotalCount  int64
}

// List returns up to first ids of an index, after the cursor (empty for the first page). Ids come in the
// order they joined the index.
func (r *Registry) List(ctx context.Context, s Scope, index string, first int, after string) (Page, error) {
	pages, err := r.ListMany(ctx, s, []ListRequest{{Index: index, First: first, After: after}})
	if err != nil {
		return Page{}, err
	}
	return pages[0], nil
}

// ListRequest names one page of one index.
type ListRequest struct {
	Index string
	First int
	After string
}

// ListMany reads pages of several indexes of one scope together: their heads in one bulk read, then their
// buckets in one more (two reads in all, unless deletions left buckets thin). It serves callers that page
// the children of many parents at once, such as a GraphQL dataloader.
func (r *Registry) ListMany(ctx context.Context, s Scope, reqs []ListRequest) ([]Page, error) {
	walks := make([]*pageWalk, len(reqs))
	heads := make([]string, len(reqs))
	for i, q := range reqs {
		start, err := decodeCursor(q.After)
		if err != nil {
			return nil, err
		}
		walks[i] = &pageWalk{s: s, index: q.Index, first: q.First, start: start, bucket: start / BucketSize}
		heads[i] = s.headKey(q.Index)
	}
	snap := snapshot{}
	if err := r.bulk(ctx, snap, heads); err != nil {
		return nil, fmt.Errorf("list %s: %w", s.Kind, err)
	}
	for _, w := range walks {
		if _, _, err := r.readJSON(ctx, snap, s.headKey(w.index), &w.head); err != nil {
			return nil, err
		}
		w.page.TotalCount = w.head.Count
		if w.start < w.head.First {
			w.start, w.bucket = w.head.First, w.head.First/BucketSize
		}
	}
	for {
		var keys []string
		for _, w := range walks {
			keys = append(keys, w.nextKeys()...)
		}
		if len(keys) == 0 {
			break
		}
		if err := r.bulk(ctx, snap, keys); err != nil {
			return nil, fmt.Errorf("list %s: %w", s.Kind, err)
		}
		for _, w := range walks {
			if err := w.consume(snap); err != nil {
				return nil, err
			}
		}
	}
	pages := make([]Page, len(walks))
	for i, w := range walks {
		pages[i] = w.page
	}
	return pages, nil
}

// pageWalk collects one page of an index from its buckets, in rounds of bulk reads.
type pageWalk struct {
	s      Scope
	index  string
	first  int
	start  int64 // first sequence number of the page
	head   head
	bucket int64    // next bucket to read
	keys   []string // buckets requested in the current round
	page   Page
	done   bool
}

// nextKeys returns the buckets the page may still need: enough for a full page if none were thinned by
// deletions.
func (w *pageWalk) nextKeys() []string {
	w.keys = w.keys[:0]
	if w.done || w.first <= 0 || w.bucket*BucketSize >= w.head.Next {
		w.done = true
		return nil
	}
	n := int64(w.first/BucketSize + 2)
	for i := int64(0); i < n && (w.bucket+i)*BucketSize < w.head.Next; i++ {
		w.keys = append(w.keys, w.s.bucketKey(w.index, w.bucket+i))
	}
	w.bucket += int64(len(w.keys))
	return w.keys
}

func (w *pageWalk) consume(snap snapshot) error {
	for _, k := range w.keys {
		raw := snap[k].value
		if len(raw) == 0 {
			continue
		}
		var b []member
		if err := json.Unmarshal(raw, &b); err != nil {
			return fmt.Errorf("decode %s: %w", k, err)
		}
		for _, m := range b {
			if m.Seq < w.start {
				continue
			}
			if len(w.page.IDs) == w.first {
				w.page.HasNextPage = true
				w.done = true
				return nil
			}
			w.page.IDs = append(w.page.IDs, m.ID)
			w.page.EndCursor = encodeCursor(m.Seq + 1)
			w.page.Cursors = append(w.page.Cursors, w.page.EndCursor)
		}
	}
	return nil
}

// Cursors are opaque to clients; inside they are the sequence number to continue from.
func encodeCursor(seq int64) string {
	return "c" + strconv.FormatInt(seq, 36)
}

func decodeCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	if !strings.HasPrefix(c, "c") {
		return 0, ErrInvalidCursor
	}
	n, err := strconv.ParseInt(c[1:], 36, 64)
	if err != nil || n < 0 {
		return 0, ErrInvalidCursor
	}
	return n, nil
}

// CheckCursor reports ErrInvalidCursor for a cursor the registry did not hand out.
func CheckCursor(c string) error {
	_, err := decodeCursor(c)
	return err
}
