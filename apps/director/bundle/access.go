package bundle

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/access"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// What applications and runtimes (callers with their own credentials) may do with bundles:
//   - a runtime may ask for, give up and read instance auths only of applications sharing one of its
//     scenarios, and of those only the instance auths it asked for itself (their credentials are its own);
//   - an application may read, set and delete only the instance auths of its own bundles;
//   - an application may add, change and delete only its own bundles and their definitions and documents
//     (access.OwnApplication); a runtime none.
//
// Anything else is refused with access.NotAllowed. Users and integration systems are not restricted here:
// their scopes decide (package access). An id that does not exist is not found, for every caller.

// checkApplication refuses a caller that may not reach the bundles of application appID. An application
// that is gone is refused too, so that the answer tells nothing.
func (s *Service) checkApplication(ctx context.Context, appID string) error {
	if !access.IsConsumer(ctx) {
		return nil
	}
	app, err := s.application(ctx, appID)
	if apperr.CodeOf(err) == apperr.CodeNotFound {
		return access.NotAllowed()
	}
	if err != nil {
		return err
	}
	visible, err := access.ApplicationVisible(ctx, app, s.runtimeScenarios)
	if err != nil {
		return err
	}
	if !visible {
		return access.NotAllowed()
	}
	return nil
}

// checkInstanceAuth refuses a caller that may not reach instance auth r: see checkApplication for its
// bundle's application, and a runtime may reach only the instance auths it asked for.
func (s *Service) checkInstanceAuth(ctx context.Context, r *authRecord) error {
	if !access.IsConsumer(ctx) {
		return nil
	}
	if !ownedByCaller(ctx, r) {
		return access.NotAllowed()
	}
	b, _, err := load[bundleRecord](ctx, s.store, KindBundle, "bundle", r.BundleID)
	if apperr.CodeOf(err) == apperr.CodeNotFound {
		return access.NotAllowed()
	}
	if err != nil {
		return err
	}
	return s.checkApplication(ctx, b.ApplicationID)
}

// ownedByCaller reports whether a runtime caller asked for r; other callers pass.
func ownedByCaller(ctx context.Context, r *authRecord) bool {
	c := access.Caller(ctx)
	return c.ConsumerType != identity.ConsumerRuntime || (r.RuntimeID != "" && r.RuntimeID == c.Subject)
}

// loadInstanceAuth reads instance auth id for a caller allowed to reach it.
func (s *Service) loadInstanceAuth(ctx context.Context, id string) (*authRecord, error) {
	r, _, err := load[authRecord](ctx, s.store, KindInstanceAuth, instanceAuthWhat, id)
	if err != nil {
		return nil, err
	}
	if err := s.checkInstanceAuth(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// checkOwnBundle refuses a caller that may not change bundle id: see access.OwnApplication for its
// application. Users pass without a read.
func (s *Service) checkOwnBundle(ctx context.Context, id string) error {
	if !access.IsConsumer(ctx) {
		return nil
	}
	b, _, err := load[bundleRecord](ctx, s.store, KindBundle, "bundle", id)
	if err != nil {
		return err
	}
	return access.OwnApplication(ctx, b.ApplicationID)
}

// checkOwnContent refuses a caller that may not change the definition or document id of kind: see
// checkOwnBundle for its bundle. Content whose bundle is gone is refused, so that the answer tells nothing.
func checkOwnContent[T any, PT content[T]](ctx context.Context, s *Service, kind, what, id string) error {
	if !access.IsConsumer(ctx) {
		return nil
	}
	cur, _, err := load[T](ctx, s.store, kind, what, id)
	if err != nil {
		return err
	}
	err = s.checkOwnBundle(ctx, PT(cur).parent())
	if apperr.CodeOf(err) == apperr.CodeNotFound {
		return access.NotAllowed()
	}
	return err
}
