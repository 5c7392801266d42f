package bundle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/mgmtplane/mgmtplane/apps/director/access"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// bundleRecord is a bundle as stored. Its content lives in entities of its own, indexed by the bundle.
type bundleRecord struct {
	ID                             string      `json:"id"`
	ApplicationID                  string      `json:"applicationID"`
	Name                           string      `json:"name"`
	Description                    *string     `json:"description,omitempty"`
	InstanceAuthRequestInputSchema *string     `json:"instanceAuthRequestInputSchema,omitempty"`
	DefaultInstanceAuth            *model.Auth `json:"defaultInstanceAuth,omitempty"`
	CreatedAt                      time.Time   `json:"createdAt"`
}

func (r *bundleRecord) model() *model.Bundle {
	return &model.Bundle{
		ID: r.ID, Name: r.Name, Description: r.Description,
		InstanceAuthRequestInputSchema: r.InstanceAuthRequestInputSchema, DefaultInstanceAuth: r.DefaultInstanceAuth,
	}
}

func (r *bundleRecord) parent() string { return r.ApplicationID }

// draft is a validated bundle with its content, not stored yet.
type draft struct {
	bundle *bundleRecord
	apis   []*apiRecord
	events []*eventRecord
	docs   []*documentRecord
}

func (d *draft) downloads() []download {
	var ds []download
	for _, r := range d.apis {
		ds = append(ds, r.downloads()...)
	}
	for _, r := range d.events {
		ds = append(ds, r.downloads()...)
	}
	for _, r := range d.docs {
		ds = append(ds, r.downloads()...)
	}
	return ds
}

// bundleFields checks the fields a bundle has of its own, shared by creation and update.
func bundleFields(path, name string, description, schema *string, defaultAuth *model.AuthInput) (*model.Auth, error) {
	if err := checkName(path+".name", name); err != nil {
		return nil, err
	}
	if err := checkText(path+".description", description, 2000); err != nil {
		return nil, err
	}
	if err := checkSchema(path+".instanceAuthRequestInputSchema", schema); err != nil {
		return nil, err
	}
	return authFromInput(path+".defaultInstanceAuth", defaultAuth)
}

// newDraft validates in; path names it in error messages.
func (s *Service) newDraft(path, appID string, in *model.BundleCreateInput) (*draft, error) {
	if in == nil {
		return nil, apperr.Invalid("%s: required", path)
	}
	auth, err := bundleFields(path, in.Name, in.Description, in.InstanceAuthRequestInputSchema, in.DefaultInstanceAuth)
	if err != nil {
		return nil, err
	}
	d := &draft{bundle: &bundleRecord{
		ID: uuid.NewString(), ApplicationID: appID, Name: in.Name, Description: in.Description,
		InstanceAuthRequestInputSchema: in.InstanceAuthRequestInputSchema, DefaultInstanceAuth: auth,
		CreatedAt: s.now().UTC(),
	}}
	for i, a := range in.APIDefinitions {
		r, err := s.apiFromInput(fmt.Sprintf("%s.apiDefinitions[%d]", path, i), uuid.NewString(), a)
		if err != nil {
			return nil, err
		}
		r.BundleID = d.bundle.ID
		d.apis = append(d.apis, r)
	}
	for i, e := range in.EventDefinitions {
		r, err := s.eventFromInput(fmt.Sprintf("%s.eventDefinitions[%d]", path, i), uuid.NewString(), e)
		if err != nil {
			return nil, err
		}
		r.BundleID = d.bundle.ID
		d.events = append(d.events, r)
	}
	for i, doc := range in.Documents {
		r, err := s.documentFromInput(fmt.Sprintf("%s.documents[%d]", path, i), uuid.NewString(), doc)
		if err != nil {
			return nil, err
		}
		r.BundleID = d.bundle.ID
		d.docs = append(d.docs, r)
	}
	return d, nil
}

// ValidateForApplication checks bundles given with an application without storing anything, so that the
// application service can refuse bad input before it writes the application.
func (s *Service) ValidateForApplication(in []*model.BundleCreateInput) error {
	_, err := s.newDrafts("", in)
	return err
}

func (s *Service) newDrafts(appID string, in []*model.BundleCreateInput) ([]*draft, error) {
	ds := make([]*draft, 0, len(in))
	for i, b := range in {
		d, err := s.newDraft(fmt.Sprintf("bundles[%d]", i), appID, b)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// CreateForApplication stores bundles given inline with an application (registerApplication). Everything
// is validated before anything is written. The caller vouches that the application exists in the caller's
// tenant: it is the one registering it. Specifications with a fetch request are downloaded first; a failed
// download shows in its status and does not fail the call. When a write fails, what was written is removed
// again before the error is returned.
func (s *Service) CreateForApplication(ctx context.Context, appID string, in []*model.BundleCreateInput) error {
	if len(in) == 0 {
		return nil
	}
	if _, err := registry.TenantScope(ctx, KindBundle); err != nil {
		return err
	}
	ds, err := s.newDrafts(appID, in)
	if err != nil {
		return err
	}
	var all []download
	for _, d := range ds {
		all = append(all, d.downloads()...)
	}
	s.runDownloads(ctx, all)
	return s.write(ctx, ds)
}

// AddBundle creates a bundle, with the content given inline, in an application of the caller's tenant.
func (s *Service) AddBundle(ctx context.Context, appID string, in *model.BundleCreateInput) (*model.Bundle, error) {
	if err := access.OwnApplication(ctx, appID); err != nil {
		return nil, err
	}
	d, err := s.newDraft("in", appID, in)
	if err != nil {
		return nil, err
	}
	if _, err := s.application(ctx, appID); err != nil {
		return nil, err
	}
	s.runDownloads(ctx, d.downloads())
	if err := s.write(ctx, []*draft{d}); err != nil {
		return nil, err
	}
	return d.bundle.model(), nil
}

// write stores drafts: each bundle, then its content. A bundle is written first so that its content never
// points at a bundle that is not there; on failure everything written is removed, newest first.
func (s *Service) write(ctx context.Context, ds []*draft) error {
	type written struct {
		sc registry.Scope
		id string
	}
	var done []written
	put := func(kind, what, id string, data any, indexes []string) error {
		sc, err := registry.TenantScope(ctx, kind)
		if err != nil {
			return err
		}
		if err := create(ctx, s.store, sc, what, id, data, indexes); err != nil {
			return err
		}
		done = append(done, written{sc, id})
		return nil
	}
	err := func() error {
		for _, d := range ds {
			if err := put(KindBundle, "bundle", d.bundle.ID, d.bundle, []string{appIndex(d.bundle.ApplicationID)}); err != nil {
				return err
			}
			for _, r := range d.apis {
				if err := put(KindAPIDefinition, "API definition", r.ID, r, r.indexes()); err != nil {
					return err
				}
			}
			for _, r := range d.events {
				if err := put(KindEventDefinition, "event definition", r.ID, r, r.indexes()); err != nil {
					return err
				}
			}
			for _, r := range d.docs {
				if err := put(KindDocument, "document", r.ID, r, r.indexes()); err != nil {
					return err
				}
			}
		}
		return nil
	}()
	if err == nil {
		return nil
	}
	for i := len(done) - 1; i >= 0; i-- {
		w := done[i]
		if rerr := s.store.Mutate(ctx, w.sc, w.id, "", func([]byte) (registry.Change, error) {
			return registry.Change{Events: []registry.Event{event(w.sc, "deleted", map[string]string{"id": w.id})}}, nil
		}); rerr != nil {
			err = errors.Join(err, fmt.Errorf("undo %s %s: %w", w.sc.Kind, w.id, rerr))
		}
	}
	return err
}

// UpdateBundle replaces a bundle's own fields; its content and instance auths stay as they are.
func (s *Service) UpdateBundle(ctx context.Context, id string, in *model.BundleUpdateInput) (*model.Bundle, error) {
	if err := s.checkOwnBundle(ctx, id); err != nil {
		return nil, err
	}
	if in == nil {
		return nil, apperr.Invalid("in: required")
	}
	auth, err := bundleFields("in", in.Name, in.Description, in.InstanceAuthRequestInputSchema, in.DefaultInstanceAuth)
	if err != nil {
		return nil, err
	}
	sc, err := registry.TenantScope(ctx, KindBundle)
	if err != nil {
		return nil, err
	}
	r, err := change(ctx, s.store, sc, "bundle", id, func(b *bundleRecord) (any, []string, error) {
		b.Name, b.Description = in.Name, in.Description
		b.InstanceAuthRequestInputSchema, b.DefaultInstanceAuth = in.InstanceAuthRequestInputSchema, auth
		return b, []string{appIndex(b.ApplicationID)}, nil
	})
	if err != nil {
		return nil, err
	}
	return r.model(), nil
}

// DeleteBundle removes a bundle with its definitions, documents and instance auths, and returns it.
func (s *Service) DeleteBundle(ctx context.Context, id string) (*model.Bundle, error) {
	b, sc, err := load[bundleRecord](ctx, s.store, KindBundle, "bundle", id)
	if err != nil {
		return nil, err
	}
	if err := access.OwnApplication(ctx, b.ApplicationID); err != nil {
		return nil, err
	}
	if err := s.removeContent(ctx, id); err != nil {
		return nil, err
	}
	r, err := remove[bundleRecord](ctx, s.store, sc, "bundle", id)
	if err != nil {
		// Deleted meanwhile by someone else: the outcome is the same.
		if apperr.CodeOf(err) == apperr.CodeNotFound {
			return b.model(), nil
		}
		return nil, err
	}
	return r.model(), nil
}

// removeContent deletes everything in a bundle. It runs before the bundle itself is deleted, so a failure
// leaves the bundle in place and deleting it again finishes the job.
func (s *Service) removeContent(ctx context.Context, bundleID string) error {
	for _, kind := range []string{KindAPIDefinition, KindEventDefinition, KindDocument, KindInstanceAuth} {
		sc, err := registry.TenantScope(ctx, kind)
		if err != nil {
			return err
		}
		if err := removeAll(ctx, s.store, sc, bundleIndex(bundleID)); err != nil {
			return fmt.Errorf("delete content of bundle %s: %w", bundleID, err)
		}
	}
	return nil
}

// DeleteForApplication removes every bundle of an application with all their content: the cascade of
// unregisterApplication. Calling it again after a failure finishes the job.
func (s *Service) DeleteForApplication(ctx context.Context, appID string) error {
	sc, err := registry.TenantScope(ctx, KindBundle)
	if err != nil {
		return err
	}
	for {
		p, err := s.store.List(ctx, sc, appIndex(appID), MaxPageSize, "")
		if err != nil {
			return fmt.Errorf("list bundles of application %s: %w", appID, err)
		}
		if len(p.IDs) == 0 {
			return nil
		}
		for _, id := range p.IDs {
			if err := s.removeContent(ctx, id); err != nil {
				return err
			}
			if _, err := remove[bundleRecord](ctx, s.store, sc, "bundle", id); err != nil && apperr.CodeOf(err) != apperr.CodeNotFound {
				return err
			}
		}
	}
}

// application reads an application of the caller's tenant; bundles only exist inside one.
func (s *Service) application(ctx context.Context, id string) (*model.Application, error) {
	app, _, err := load[model.Application](ctx, s.store, kindApplication, "application", id)
	return app, err
}
