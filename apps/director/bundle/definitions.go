package bundle

import (
	"context"

	"github.com/google/uuid"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// The stored forms of a bundle's content: the GraphQL object as served, plus the bundle it belongs to.
type (
	apiRecord struct {
		BundleID string `json:"bundleID"`
		model.APIDefinition
	}
	eventRecord struct {
		BundleID string `json:"bundleID"`
		model.EventDefinition
	}
	documentRecord struct {
		BundleID string `json:"bundleID"`
		model.Document
	}
)

func (r *apiRecord) model() *model.APIDefinition     { v := r.APIDefinition; return &v }
func (r *eventRecord) model() *model.EventDefinition { v := r.EventDefinition; return &v }
func (r *documentRecord) model() *model.Document     { v := r.Document; return &v }

// The methods the generic helpers below rely on.
func (r *apiRecord) key() string                { return r.ID }
func (r *eventRecord) key() string              { return r.ID }
func (r *documentRecord) key() string           { return r.ID }
func (r *apiRecord) parent() string             { return r.BundleID }
func (r *eventRecord) parent() string           { return r.BundleID }
func (r *documentRecord) parent() string        { return r.BundleID }
func (r *apiRecord) setParent(id string)        { r.BundleID = id }
func (r *eventRecord) setParent(id string)      { r.BundleID = id }
func (r *documentRecord) setParent(id string)   { r.BundleID = id }
func (r *apiRecord) indexes() []string          { return childIndexes(r.BundleID, r.Group) }
func (r *eventRecord) indexes() []string        { return childIndexes(r.BundleID, r.Group) }
func (r *documentRecord) indexes() []string     { return childIndexes(r.BundleID, nil) }
func (r *documentRecord) downloads() []download { return contentDownload(r.FetchRequest, &r.Data) }

func (r *apiRecord) downloads() []download {
	if r.Spec == nil {
		return nil
	}
	return contentDownload(r.Spec.FetchRequest, &r.Spec.Data)
}

func (r *eventRecord) downloads() []download {
	if r.Spec == nil {
		return nil
	}
	return contentDownload(r.Spec.FetchRequest, &r.Spec.Data)
}

// content is what addChild and updateChild need of a definition or document.
type content[T any] interface {
	*T
	key() string
	parent() string
	setParent(bundleID string)
	indexes() []string
	downloads() []download
}

// contentDownload is the download content needs at creation: when it came with a fetch request and no data.
func contentDownload(fr *model.FetchRequest, data **string) []download {
	if fr == nil || *data != nil {
		return nil
	}
	return []download{{fr: fr, data: data}}
}

func (s *Service) apiFromInput(path, id string, in *model.APIDefinitionInput) (*apiRecord, error) {
	if in == nil {
		return nil, apperr.Invalid("%s: required", path)
	}
	if err := checkName(path+".name", in.Name); err != nil {
		return nil, err
	}
	if err := checkText(path+".description", in.Description, 2000); err != nil {
		return nil, err
	}
	if err := checkURL(path+".targetURL", in.TargetURL); err != nil {
		return nil, err
	}
	if err := checkText(path+".group", in.Group, 36); err != nil {
		return nil, err
	}
	version, err := versionFromInput(path+".version", in.Version)
	if err != nil {
		return nil, err
	}
	r := &apiRecord{APIDefinition: model.APIDefinition{
		ID: id, Name: in.Name, Description: in.Description, TargetURL: in.TargetURL, Group: in.Group, Version: version,
	}}
	if sp := in.Spec; sp != nil {
		p := path + ".spec"
		if err := checkFormat(p, sp.Type, sp.Format, apiFormats); err != nil {
			return nil, err
		}
		if err := s.checkContent(p, sp.Data, sp.FetchRequest); err != nil {
			return nil, err
		}
		fr, err := fetchRequestFromInput(p+".fetchRequest", sp.FetchRequest, s.now().UTC())
		if err != nil {
			return nil, err
		}
		// A specification is one-to-one with its definition (as in Compass), so it shares the id.
		r.Spec = &model.APISpec{ID: id, Data: sp.Data, Format: sp.Format, Type: sp.Type, FetchRequest: fr}
	}
	return r, nil
}

func (s *Service) eventFromInput(path, id string, in *model.EventDefinitionInput) (*eventRecord, error) {
	if in == nil {
		return nil, apperr.Invalid("%s: required", path)
	}
	if err := checkName(path+".name", in.Name); err != nil {
		return nil, err
	}
	if err := checkText(path+".description", in.Description, 2000); err != nil {
		return nil, err
	}
	if err := checkText(path+".group", in.Group, 36); err != nil {
		return nil, err
	}
	version, err := versionFromInput(path+".version", in.Version)
	if err != nil {
		return nil, err
	}
	r := &eventRecord{EventDefinition: model.EventDefinition{
		ID: id, Name: in.Name, Description: in.Description, Group: in.Group, Version: version,
	}}
	if sp := in.Spec; sp != nil {
		p := path + ".spec"
		if err := checkFormat(p, sp.Type, sp.Format, eventFormats); err != nil {
			return nil, err
		}
		if err := s.checkContent(p, sp.Data, sp.FetchRequest); err != nil {
			return nil, err
		}
		fr, err := fetchRequestFromInput(p+".fetchRequest", sp.FetchRequest, s.now().UTC())
		if err != nil {
			return nil, err
		}
		r.Spec = &model.EventSpec{ID: id, Data: sp.Data, Type: sp.Type, Format: sp.Format, FetchRequest: fr}
	}
	return r, nil
}

func (s *Service) documentFromInput(path, id string, in *model.DocumentInput) (*documentRecord, error) {
	if in == nil {
		return nil, apperr.Invalid("%s: required", path)
	}
	if err := checkRequired(path+".title", in.Title, 128); err != nil {
		return nil, err
	}
	if err := checkRequired(path+".displayName", in.DisplayName, 128); err != nil {
		return nil, err
	}
	if err := checkRequired(path+".description", in.Description, 2000); err != nil {
		return nil, err
	}
	if !in.Format.IsValid() {
		return nil, apperr.Invalid("%s.format: %q is not a document format", path, in.Format)
	}
	if err := checkText(path+".kind", in.Kind, 256); err != nil {
		return nil, err
	}
	if err := s.checkContent(path, in.Data, in.FetchRequest); err != nil {
		return nil, err
	}
	fr, err := fetchRequestFromInput(path+".fetchRequest", in.FetchRequest, s.now().UTC())
	if err != nil {
		return nil, err
	}
	return &documentRecord{Document: model.Document{
		ID: id, Title: in.Title, DisplayName: in.DisplayName, Description: in.Description, Format: in.Format,
		Kind: in.Kind, Data: in.Data, FetchRequest: fr,
	}}, nil
}

// bundleExists makes sure the bundle that content is added to is there, in the caller's tenant.
func (s *Service) bundleExists(ctx context.Context, id string) error {
	_, _, err := load[bundleRecord](ctx, s.store, KindBundle, "bundle", id)
	return err
}

// addChild validates, downloads and stores one piece of content of a bundle.
func addChild[T any, PT content[T]](ctx context.Context, s *Service, kind, what, bundleID string, build func(id string) (PT, error)) (PT, error) {
	sc, err := registry.TenantScope(ctx, kind)
	if err != nil {
		return nil, err
	}
	if err := s.checkOwnBundle(ctx, bundleID); err != nil {
		return nil, err
	}
	r, err := build(uuid.NewString())
	if err != nil {
		return nil, err
	}
	if err := s.bundleExists(ctx, bundleID); err != nil {
		return nil, err
	}
	r.setParent(bundleID)
	s.runDownloads(ctx, r.downloads())
	if err := create(ctx, s.store, sc, what, r.key(), r, r.indexes()); err != nil {
		return nil, err
	}
	return r, nil
}

// updateChild replaces one piece of content with what build makes of the input, keeping its id and bundle.
func updateChild[T any, PT content[T]](ctx context.Context, s *Service, kind, what, id string, build func(id string) (PT, error)) (PT, error) {
	if err := checkOwnContent[T, PT](ctx, s, kind, what, id); err != nil {
		return nil, err
	}
	next, err := build(id)
	if err != nil {
		return nil, err
	}
	cur, sc, err := load[T](ctx, s.store, kind, what, id)
	if err != nil {
		return nil, err
	}
	next.setParent(PT(cur).parent())
	s.runDownloads(ctx, next.downloads())
	return change(ctx, s.store, sc, what, id, func(v *T) (any, []string, error) {
		next.setParent(PT(v).parent())
		*v = *next
		return v, next.indexes(), nil
	})
}

// AddAPIDefinition adds an API definition to a bundle, downloading its specification when it comes with a
// fetch request and no data.
func (s *Service) AddAPIDefinition(ctx context.Context, bundleID string, in *model.APIDefinitionInput) (*model.APIDefinition, error) {
	r, err := addChild(ctx, s, KindAPIDefinition, "API definition", bundleID,
		func(id string) (*apiRecord, error) { return s.apiFromInput("in", id, in) })
	if err != nil {
		return nil, err
	}
	return r.model(), nil
}

// UpdateAPIDefinition replaces an API definition, specification included.
func (s *Service) UpdateAPIDefinition(ctx context.Context, id string, in *model.APIDefinitionInput) (*model.APIDefinition, error) {
	r, err := updateChild(ctx, s, KindAPIDefinition, "API definition", id,
		func(id string) (*apiRecord, error) { return s.apiFromInput("in", id, in) })
	if err != nil {
		return nil, err
	}
	return r.model(), nil
}

// DeleteAPIDefinition removes an API definition and returns it.
func (s *Service) DeleteAPIDefinition(ctx context.Context, id string) (*model.APIDefinition, error) {
	r, err := removeOwned[apiRecord](ctx, s, KindAPIDefinition, "API definition", id)
	if err != nil {
		return nil, err
	}
	return r.model(), nil
}

// AddEventDefinition adds an event definition to a bundle, downloading its specification when it comes
// with a fetch request and no data.
func (s *Service) AddEventDefinition(ctx context.Context, bundleID string, in *model.EventDefinitionInput) (*model.EventDefinition, error) {
	r, err := addChild(ctx, s, KindEventDefinition, "event definition", bundleID,
		func(id string) (*eventRecord, error) { return s.eventFromInput("in", id, in) })
	if err != nil {
		return nil, err
	}
	return r.model(), nil
}

// UpdateEventDefinition replaces an event definition, specification included.
func (s *Service) UpdateEventDefinition(ctx context.Context, id string, in *model.EventDefinitionInput) (*model.EventDefinition, error) {
	r, err := updateChild(ctx, s, KindEventDefinition, "event definition", id,
		func(id string) (*eventRecord, error) { return s.eventFromInput("in", id, in) })
	if err != nil {
		return nil, err
	}
	return r.model(), nil
}

// DeleteEventDefinition removes an event definition and returns it.
func (s *Service) DeleteEventDefinition(ctx context.Context, id string) (*model.EventDefinition, error) {
	r, err := removeOwned[eventRecord](ctx, s, KindEventDefinition, "event definition", id)
	if err != nil {
		return nil, err
	}
	return r.model(), nil
}

// AddDocument adds a document to a bundle, downloading it when it comes with a fetch request and no data.
func (s *Service) AddDocument(ctx context.Context, bundleID string, in *model.DocumentInput) (*model.Document, error) {
	r, err := addChild(ctx, s, KindDocument, "document", bundleID,
		func(id string) (*documentRecord, error) { return s.documentFromInput("in", id, in) })
	if err != nil {
		return nil, err
	}
	return r.model(), nil
}

// DeleteDocument removes a document and returns it.
func (s *Service) DeleteDocument(ctx context.Context, id string) (*model.Document, error) {
	r, err := removeOwned[documentRecord](ctx, s, KindDocument, "document", id)
	if err != nil {
		return nil, err
	}
	return r.model(), nil
}

func removeOne[T any](ctx context.Context, s *Service, kind, what, id string) (*T, error) {
	sc, err := registry.TenantScope(ctx, kind)
	if err != nil {
		return nil, err
	}
	return remove[T](ctx, s.store, sc, what, id)
}

// removeOwned deletes the definition or document id of kind, for a caller allowed to change it.
func removeOwned[T any, PT content[T]](ctx context.Context, s *Service, kind, what, id string) (*T, error) {
	if err := checkOwnContent[T, PT](ctx, s, kind, what, id); err != nil {
		return nil, err
	}
	return removeOne[T](ctx, s, kind, what, id)
}

// RefetchAPISpec downloads an API definition's specification again from its fetch request. A failed
// download is not an error: the status says FAILED and why, and the data of the last good download stays,
// so consumers are not left without a specification while its source is briefly away.
func (s *Service) RefetchAPISpec(ctx context.Context, apiID string) (*model.APISpec, error) {
	r, err := refetch(ctx, s, KindAPIDefinition, "API definition", apiID, func(r *apiRecord) (*model.FetchRequest, **string) {
		if r.Spec == nil {
			return nil, nil
		}
		return r.Spec.FetchRequest, &r.Spec.Data
	})
	if err != nil {
		return nil, err
	}
	return r.Spec, nil
}

// RefetchEventSpec is RefetchAPISpec for event definitions.
func (s *Service) RefetchEventSpec(ctx context.Context, eventID string) (*model.EventSpec, error) {
	r, err := refetch(ctx, s, KindEventDefinition, "event definition", eventID, func(r *eventRecord) (*model.FetchRequest, **string) {
		if r.Spec == nil {
			return nil, nil
		}
		return r.Spec.FetchRequest, &r.Spec.Data
	})
	if err != nil {
		return nil, err
	}
	return r.Spec, nil
}

// refetch downloads the content of the entity id again; target finds its fetch request and data.
func refetch[T any, PT content[T]](ctx context.Context, s *Service, kind, what, id string, target func(PT) (*model.FetchRequest, **string)) (PT, error) {
	if err := checkOwnContent[T, PT](ctx, s, kind, what, id); err != nil {
		return nil, err
	}
	cur, sc, err := load[T](ctx, s.store, kind, what, id)
	if err != nil {
		return nil, err
	}
	fr, _ := target(cur)
	if fr == nil {
		return nil, apperr.Invalid("%s %q has no fetch request to download its specification from", what, id)
	}
	data, status := s.download(ctx, fr)
	return change(ctx, s.store, sc, what, id, func(v *T) (any, []string, error) {
		now, dst := target(v)
		if now == nil || now.URL != fr.URL {
			return nil, nil, apperr.New(apperr.CodeConflict, "%s %q changed while its specification was downloaded; try again", what, id)
		}
		now.Status = status
		if data != nil {
			*dst = data
		}
		return v, PT(v).indexes(), nil
	})
}
