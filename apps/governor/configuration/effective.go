package configuration

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Effective is what one runtime is to run: the bindings of every configuration aimed at it, merged.
//
// Precedence: the configurations aimed by label selector come first, in the order they were created
// (oldest first), then the runtime's own configuration. A later configuration's binding replaces, as a
// whole, an earlier binding of the same name.
//
// Revision numbers the effective configuration of this runtime: it grows by one each time the merged
// bindings differ from the last ones computed for the runtime, whatever made them differ (a
// configuration written, deleted, rolled back or re-aimed, or the runtime's labels changed in the
// Director), and never otherwise. 0 means nothing was ever configured for the runtime. The number is
// kept per runtime (kindRuntimeView) with a hash of the bindings it stands for; it is not a count of
// configuration revisions, which Sources lists instead.
type Effective struct {
	RuntimeID string
	Revision  int
	Bindings  []EffectiveBinding
	// Sources are the configurations merged, in precedence order (the last wins).
	Sources []Source
	// SecretsIncluded tells whether secret values are filled in: only for the runtime itself.
	SecretsIncluded bool
	// DriftPolicy tells the agent what to do about drift: DriftReport when any configuration merged
	// says so (report-only is a promise not to touch the runtime's components, and any configuration's
	// promise holds), else DriftCorrect.
	DriftPolicy string
}

// EffectiveBinding is a binding of the effective configuration and where it comes from.
type EffectiveBinding struct {
	Binding
	ConfigurationID string
}

// Source is one configuration merged into an effective configuration.
type Source struct {
	ConfigurationID string
	Revision        int
}

// runtimeView is what is kept per runtime to number its effective configurations.
type runtimeView struct {
	Revision int    `json:"revision"`
	Hash     string `json:"hash"`
	// Sources are the configuration revisions the bindings were last merged from. They may change
	// without the revision (a new configuration revision that changes nothing for this runtime); a
	// rollout reads from them which revision a runtime runs.
	Sources []Source `json:"sources,omitempty"`
	// Labels is a hash of the runtime's labels the bindings were merged for (hashLabels): a replica holding
	// other labels in its cache reads them again before numbering (see cache.go). Empty in views numbered
	// before it existed.
	Labels string `json:"labels,omitempty"`
}

// Effective computes the effective configuration of runtime runtimeID. Secret values are included only
// when the caller is that runtime.
func (s *Service) Effective(ctx context.Context, runtimeID string) (*Effective, error) {
	if err := mayActFor(ctx, runtimeID); err != nil {
		return nil, err
	}
	if !validID(runtimeID) {
		return nil, apperr.NotFound("runtime", runtimeID)
	}
	eff, err := s.effective(ctx, runtimeID, false)
	if errors.Is(err, errStaleCache) {
		eff, err = s.effective(ctx, runtimeID, true)
	}
	if err != nil {
		return nil, err
	}
	if isRuntime(ctx, runtimeID) {
		eff.SecretsIncluded = true
	} else {
		for i := range eff.Bindings {
			eff.Bindings[i].Binding = eff.Bindings[i].redacted()
		}
	}
	return eff, nil
}

// errStaleCache says that what the caches hold is older than what the runtime's view was numbered from.
var errStaleCache = errors.New("cached inputs older than the runtime view")

// effective reads what the runtime's effective configuration is made of, merges and numbers it. fresh
// reads everything from its source, whatever the caches hold. It fails with errStaleCache rather than
// number a new revision from cached inputs the view shows older than what it was numbered from (see
// cache.go).
func (s *Service) effective(ctx context.Context, runtimeID string, fresh bool) (*Effective, error) {
	sc, err := registry.TenantScope(ctx, kindConfiguration)
	if err != nil {
		return nil, err
	}
	view, epoch, err := s.readView(ctx, runtimeID)
	if err != nil {
		return nil, err
	}
	labels, labelsCached, err := s.runtimeLabels(ctx, sc.Tenant, runtimeID, fresh)
	if err != nil {
		return nil, err
	}
	configs, err := s.configurations(ctx, sc.Tenant, epoch, fresh)
	if err != nil {
		return nil, err
	}
	// A configuration under a rollout gives this runtime the revision released to it.
	selected, err := s.released(ctx, runtimeID, configs.selector, configs)
	if err != nil {
		return nil, err
	}
	own, err := s.ownConfiguration(ctx, configs, runtimeID)
	if err != nil {
		return nil, err
	}
	eff := merge(runtimeID, labels, selected, own)
	hash, err := hashBindings(eff.Bindings, eff.DriftPolicy)
	if err != nil {
		return nil, err
	}
	switch {
	case view != nil && view.Hash == hash && slices.Equal(view.Sources, eff.Sources):
		eff.Revision = view.Revision
		return eff, nil
	case view == nil && len(eff.Bindings) == 0:
		return eff, nil
	}
	lh := hashLabels(labels)
	if labelsCached && (view == nil || view.Labels != lh) {
		return nil, errStaleCache
	}
	if configs.cached && view != nil {
		switch behind, err := s.behind(ctx, runtimeID, labels, view, eff.Sources, latestRevisions(configs.selector, own)); {
		case err != nil:
			return nil, err
		case behind:
			return nil, errStaleCache
		}
	}
	if eff.Revision, err = s.number(ctx, runtimeID, hash, lh, eff.Sources); err != nil {
		return nil, err
	}
	return eff, nil
}

// merge applies the precedence rules to the configurations that aim at the runtime.
func merge(runtimeID string, labels map[string]any, selected []*Configuration, own *Configuration) *Effective {
	var chain []*Configuration
	for _, c := range selected {
		if !c.Deleted && c.Target.RuntimeID == "" && c.Target.Matches(runtimeID, labels) {
			chain = append(chain, c)
		}
	}
	slices.SortStableFunc(chain, func(a, b *Configuration) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	if own != nil && !own.Deleted && own.Target.RuntimeID == runtimeID {
		chain = append(chain, own)
	}
	eff := &Effective{RuntimeID: runtimeID, Bindings: []EffectiveBinding{}, Sources: []Source{}, DriftPolicy: DriftCorrect}
	byName := map[string]int{}
	for _, c := range chain {
		eff.Sources = append(eff.Sources, Source{ConfigurationID: c.ID, Revision: c.Revision})
		if c.Policy() == DriftReport {
			eff.DriftPolicy = DriftReport
		}
		for _, b := range c.Bindings {
			eb := EffectiveBinding{Binding: b, ConfigurationID: c.ID}
			if i, ok := byName[b.Name]; ok {
				eff.Bindings[i] = eb
				continue
			}
			byName[b.Name] = len(eff.Bindings)
			eff.Bindings = append(eff.Bindings, eb)
		}
	}
	slices.SortFunc(eff.Bindings, func(a, b EffectiveBinding) int { return cmp.Compare(a.Name, b.Name) })
	return eff
}

// selectorConfigurations reads every live configuration aimed by label selector.
func (s *Service) selectorConfigurations(ctx context.Context) ([]*Configuration, error) {
	sc, err := registry.TenantScope(ctx, kindConfiguration)
	if err != nil {
		return nil, err
	}
	var all []*Configuration
	after := ""
	for {
		items, p, err := registry.ListAs[Configuration](ctx, s.store, sc, indexSelector, MaxPageSize, after)
		if err != nil {
			return nil, fmt.Errorf("list label-selector configurations: %w", err)
		}
		all = append(all, items...)
		if !p.HasNextPage {
			return all, nil
		}
		after = p.EndCursor
	}
}

// runtimeConfiguration reads the configuration aimed at the runtime itself, or nil.
func (s *Service) runtimeConfiguration(ctx context.Context, runtimeID string) (*Configuration, error) {
	sc, err := registry.TenantScope(ctx, kindConfiguration)
	if err != nil {
		return nil, err
	}
	id, err := s.store.Owner(ctx, sc, runtimeKey(runtimeID))
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find configuration of runtime %s: %w", runtimeID, err)
	}
	var c Configuration
	if err := s.store.Get(ctx, sc, id, &c); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, nil // deleted in between
		}
		return nil, fmt.Errorf("read configuration %s: %w", id, err)
	}
	return &c, nil
}

// behind reports whether view was numbered from configurations newer than sources, those merged from the
// cache (latest: the cached configurations' revisions): a configuration at a later revision (or a rollout
// that released a later one), one merged there that is not here although it is live and aims at the
// runtime, or one merged here and not there that the store no longer has at the cached revision. The
// epoch keeps this rare; it closes the moment between another replica's write and its bump of the epoch.
// Only what differs from the view costs a read.
func (s *Service) behind(ctx context.Context, runtimeID string, labels map[string]any, view *runtimeView, sources []Source, latest map[string]int) (bool, error) {
	ours := make(map[string]int, len(sources))
	for _, src := range sources {
		ours[src.ConfigurationID] = src.Revision
	}
	for _, v := range view.Sources {
		if rev, ok := ours[v.ConfigurationID]; ok {
			if rev < v.Revision {
				return true, nil
			}
			continue
		}
		// Deleted or re-aimed since (then the cache is the newer), or new and not in the cache.
		c, err := s.current(ctx, v.ConfigurationID)
		switch {
		case apperr.CodeOf(err) == apperr.CodeNotFound:
			continue
		case err != nil:
			return false, err
		}
		if !c.Deleted && (c.Target.RuntimeID == runtimeID || c.Target.RuntimeID == "" && c.Target.Matches(runtimeID, labels)) {
			return true, nil
		}
	}
	inView := make(map[string]bool, len(view.Sources))
	for _, v := range view.Sources {
		inView[v.ConfigurationID] = true
	}
	for _, src := range sources {
		if inView[src.ConfigurationID] {
			continue
		}
		// New since the view (then the cache is the newer), or deleted or changed and still cached.
		c, err := s.current(ctx, src.ConfigurationID)
		switch {
		case apperr.CodeOf(err) == apperr.CodeNotFound:
			return true, nil
		case err != nil:
			return false, err
		case c.Deleted || c.Revision != latest[src.ConfigurationID]:
			return true, nil
		}
	}
	return false, nil
}

// latestRevisions maps each configuration merged to its latest revision (the one cached, whichever a
// rollout released).
func latestRevisions(selected []*Configuration, own *Configuration) map[string]int {
	out := make(map[string]int, len(selected)+1)
	for _, c := range selected {
		out[c.ID] = c.Revision
	}
	if own != nil {
		out[own.ID] = own.Revision
	}
	return out
}

var errSameView = errors.New("effective configuration unchanged")

// number returns the revision of the runtime's effective configuration whose bindings hash to hash,
// starting a new one when they differ from the last ones numbered (read again here: the caller's read
// may be stale). labels is the hash of the labels they were merged for, kept as a check on cached labels.
func (s *Service) number(ctx context.Context, runtimeID, hash, labels string, sources []Source) (int, error) {
	sc, err := registry.TenantScope(ctx, kindRuntimeView)
	if err != nil {
		return 0, err
	}
	var rev int
	err = s.store.Mutate(ctx, sc, runtimeID, "", func(raw []byte) (registry.Change, error) {
		var cur runtimeView
		if raw != nil {
			if err := json.Unmarshal(raw, &cur); err != nil {
				return registry.Change{}, fmt.Errorf("decode runtime view %s: %w", runtimeID, err)
			}
			if cur.Hash == hash {
				// Another request numbered the same bindings first, or only where they come from changed.
				rev = cur.Revision
				if slices.Equal(cur.Sources, sources) {
					return registry.Change{}, errSameView
				}
				return registry.Change{Data: runtimeView{Revision: rev, Hash: hash, Sources: sources, Labels: labels}}, nil
			}
		}
		rev = cur.Revision + 1
		return registry.Change{Data: runtimeView{Revision: rev, Hash: hash, Sources: sources, Labels: labels}}, nil
	})
	if err != nil && !errors.Is(err, errSameView) {
		return 0, fmt.Errorf("number effective configuration of runtime %s: %w", runtimeID, err)
	}
	return rev, nil
}

// hashLabels fingerprints a runtime's labels (JSON sorts map keys).
func hashLabels(labels map[string]any) string {
	if len(labels) == 0 {
		return "-"
	}
	raw, err := json.Marshal(labels)
	if err != nil {
		return "?" // matches no view: the labels are read again, never trusted
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16])
}

// hashBindings fingerprints the merged bindings, secret values included (a rotated secret is a change
// for the runtime), where they come from not (moving a binding between configurations is not). A
// report-only drift policy counts too, since the agent learns it only with a new revision; the default
// policy leaves the hash as it was before policies existed, so that no runtime gets a new revision for it.
func hashBindings(bindings []EffectiveBinding, policy string) (string, error) {
	plain := make([]Binding, len(bindings))
	for i, b := range bindings {
		plain[i] = b.Binding
	}
	raw, err := json.Marshal(plain)
	if err != nil {
		return "", fmt.Errorf("encode bindings: %w", err)
	}
	if policy == DriftReport {
		raw = append(raw, "driftPolicy="+DriftReport...)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), nil
}

// isRuntime reports whether the caller is the runtime runtimeID itself.
func isRuntime(ctx context.Context, runtimeID string) bool {
	id, _ := identity.FromContext(ctx)
	return id.ConsumerType == identity.ConsumerRuntime && id.Subject == runtimeID
}

// mayActFor refuses a runtime acting for another runtime. Other callers are trusted with every runtime
// of their tenant (their scopes were checked by the transport).
func mayActFor(ctx context.Context, runtimeID string) error {
	id, _ := identity.FromContext(ctx)
	if id.ConsumerType == identity.ConsumerRuntime && id.Subject != runtimeID {
		return apperr.New(apperr.CodeForbidden, "a runtime may only use its own configuration")
	}
	return nil
}
