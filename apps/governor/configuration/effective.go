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
	labels, err := s.labels.RuntimeLabels(ctx, runtimeID)
	if err != nil {
		return nil, err
	}
	selected, err := s.selectorConfigurations(ctx)
	if err != nil {
		return nil, err
	}
	// A configuration under a rollout gives this runtime the revision released to it.
	if selected, err = s.released(ctx, runtimeID, selected); err != nil {
		return nil, err
	}
	own, err := s.runtimeConfiguration(ctx, runtimeID)
	if err != nil {
		return nil, err
	}
	eff := merge(runtimeID, labels, selected, own)
	if eff.Revision, err = s.number(ctx, runtimeID, eff.Bindings, eff.DriftPolicy, eff.Sources); err != nil {
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

var errSameView = errors.New("effective configuration unchanged")

// number returns the revision of the runtime's effective configuration made of bindings, starting a new
// one when they differ from the last ones numbered. Most calls find them unchanged with one read.
func (s *Service) number(ctx context.Context, runtimeID string, bindings []EffectiveBinding, policy string, sources []Source) (int, error) {
	sc, err := registry.TenantScope(ctx, kindRuntimeView)
	if err != nil {
		return 0, err
	}
	hash, err := hashBindings(bindings, policy)
	if err != nil {
		return 0, err
	}
	var view runtimeView
	switch err := s.store.Get(ctx, sc, runtimeID, &view); {
	case err == nil && view.Hash == hash && slices.Equal(view.Sources, sources):
		return view.Revision, nil
	case errors.Is(err, registry.ErrNotFound) && len(bindings) == 0:
		return 0, nil
	case err != nil && !errors.Is(err, registry.ErrNotFound):
		return 0, fmt.Errorf("read runtime view %s: %w", runtimeID, err)
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
				return registry.Change{Data: runtimeView{Revision: rev, Hash: hash, Sources: sources}}, nil
			}
		}
		rev = cur.Revision + 1
		return registry.Change{Data: runtimeView{Revision: rev, Hash: hash, Sources: sources}}, nil
	})
	if err != nil && !errors.Is(err, errSameView) {
		return 0, fmt.Errorf("number effective configuration of runtime %s: %w", runtimeID, err)
	}
	return rev, nil
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
