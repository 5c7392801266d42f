package bundle

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/mgmtplane/mgmtplane/apps/director/access"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

const instanceAuthWhat = "bundle instance auth"

// authRecord is an instance auth as stored, with the bundle it belongs to and the runtime that asked for
// it (empty when a user or an integration system asked).
type authRecord struct {
	BundleID  string `json:"bundleID"`
	RuntimeID string `json:"runtimeID,omitempty"`
	model.BundleInstanceAuth
}

func (r *authRecord) model() *model.BundleInstanceAuth { v := r.BundleInstanceAuth; return &v }
func (r *authRecord) parent() string                   { return r.BundleID }

// indexes are the lists an instance auth is on: its bundle's, and its condition's across the tenant (what
// needs attention: FAILED ones). Every write names both, or the record leaves the one it omits.
func (r *authRecord) indexes() []string {
	idx := []string{bundleIndex(r.BundleID)}
	if r.Status != nil {
		idx = append(idx, conditionIndex(r.Status.Condition))
	}
	return idx
}

func conditionIndex(c model.BundleInstanceAuthStatusCondition) string { return "condition:" + string(c) }

// Reasons and messages of the statuses this package sets; the reasons are Compass's.
const (
	reasonPendingNotification = "PendingNotification"
	reasonNotificationSent    = "NotificationSent"
	reasonProvided            = "CredentialsProvided"
	reasonNotProvided         = "CredentialsNotProvided"
	reasonInvalidAnswer       = "InvalidWebhookAnswer"
	reasonPendingDeletion     = "PendingDeletion"
)

func authStatus(c model.BundleInstanceAuthStatusCondition, reason, message string, now time.Time) *model.BundleInstanceAuthStatus {
	return &model.BundleInstanceAuthStatus{Condition: c, Reason: reason, Message: message, Timestamp: now}
}

func succeeded(now time.Time) *model.BundleInstanceAuthStatus {
	return authStatus(model.BundleInstanceAuthStatusConditionSucceeded, reasonProvided, "Credentials were provided.", now)
}

// RequestInstanceAuth asks for credentials to a bundle. A bundle with a default auth answers at once.
// Otherwise the request is stored as PENDING first (so that an application answering quickly through
// setBundleInstanceAuth finds it) and the application's webhook, if it has one, is called:
//   - 2xx with {"auth": {...}}: SUCCEEDED with those credentials;
//   - 2xx with {"status": "FAILED", "reason": ..., "message": ...}: FAILED;
//   - 202 Accepted: stays PENDING until the application calls setBundleInstanceAuth;
//   - no answer after the retries: stays PENDING, and the message says the notification failed — the
//     application can still answer with setBundleInstanceAuth, so the request is not lost.
func (s *Service) RequestInstanceAuth(ctx context.Context, bundleID string, in *model.BundleInstanceAuthRequestInput) (*model.BundleInstanceAuth, error) {
	if in == nil {
		return nil, apperr.Invalid("in: required")
	}
	id := uuid.NewString()
	if in.ID != nil {
		if !idPattern.MatchString(*in.ID) {
			return nil, apperr.Invalid("in.id: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
		}
		id = *in.ID
	}
	if err := checkJSON("in.context", in.Context); err != nil {
		return nil, err
	}
	if err := checkJSON("in.inputParams", in.InputParams); err != nil {
		return nil, err
	}
	sc, err := registry.TenantScope(ctx, KindInstanceAuth)
	if err != nil {
		return nil, err
	}
	b, _, err := load[bundleRecord](ctx, s.store, KindBundle, "bundle", bundleID)
	if err != nil {
		return nil, err
	}
	if err := s.checkApplication(ctx, b.ApplicationID); err != nil {
		return nil, err
	}
	if err := checkInputParams(b.InstanceAuthRequestInputSchema, in.InputParams); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	r := &authRecord{BundleID: b.ID, RuntimeID: requestingRuntime(ctx), BundleInstanceAuth: model.BundleInstanceAuth{ID: id, Context: in.Context, InputParams: in.InputParams}}
	if b.DefaultInstanceAuth != nil {
		r.Auth, r.Status = b.DefaultInstanceAuth, succeeded(now)
		if err := create(ctx, s.store, sc, instanceAuthWhat, id, r, r.indexes()); err != nil {
			return nil, err
		}
		return r.model(), nil
	}

	app, err := s.application(ctx, b.ApplicationID)
	if err != nil {
		return nil, err
	}
	r.Status = authStatus(model.BundleInstanceAuthStatusConditionPending, reasonPendingNotification, "Credentials were not yet provided.", now)
	if err := create(ctx, s.store, sc, instanceAuthWhat, id, r, r.indexes()); err != nil {
		return nil, err
	}
	hook := credentialsWebhook(app)
	if hook == nil {
		return r.model(), nil
	}
	a := s.hooks.ask(ctx, hook, credentialsRequest{
		BundleInstanceAuthID: id, BundleID: b.ID, ApplicationID: app.ID,
		Context: rawJSON(in.Context), InputParams: rawJSON(in.InputParams),
	})
	auth, status := s.fromAnswer(a)
	// Only a request still PENDING takes the webhook's answer: the application may have called
	// setBundleInstanceAuth while we waited, and that answer wins.
	r, err = change(ctx, s.store, sc, instanceAuthWhat, id, func(v *authRecord) (any, []string, error) {
		if v.Status.Condition == model.BundleInstanceAuthStatusConditionPending {
			v.Auth, v.Status = auth, status
		}
		return v, v.indexes(), nil
	})
	if err != nil {
		return nil, fmt.Errorf("record the application's answer: %w", err)
	}
	return r.model(), nil
}

// requestingRuntime is the caller's id when it is a runtime acting for itself.
func requestingRuntime(ctx context.Context) string {
	if c := access.Caller(ctx); c.ConsumerType == identity.ConsumerRuntime {
		return c.Subject
	}
	return ""
}

// fromAnswer turns what the webhook said into credentials and a status.
func (s *Service) fromAnswer(a answer) (*model.Auth, *model.BundleInstanceAuthStatus) {
	now := s.now().UTC()
	switch {
	case a.auth != nil:
		return a.auth, succeeded(now)
	case a.refused != nil:
		reason, msg := a.refused.Reason, a.refused.Message
		if reason == "" {
			reason = reasonNotProvided
		}
		if msg == "" {
			msg = "The application did not provide credentials."
		}
		return nil, authStatus(model.BundleInstanceAuthStatusConditionFailed, reason, msg, now)
	case a.invalid != nil:
		return nil, authStatus(model.BundleInstanceAuthStatusConditionFailed, reasonInvalidAnswer,
			"The application's webhook answered without credentials: "+a.invalid.Error(), now)
	case a.accepted:
		return nil, authStatus(model.BundleInstanceAuthStatusConditionPending, reasonNotificationSent,
			"The application was notified and will provide the credentials.", now)
	}
	return nil, authStatus(model.BundleInstanceAuthStatusConditionPending, reasonPendingNotification,
		fmt.Sprintf("Notifying the application failed (%v); it can still provide the credentials.", a.failed), now)
}

// credentialsWebhook is the webhook an application is asked for credentials through. Compass has a
// dedicated type for it; this schema has only CONFIGURATION_CHANGED, so the first such webhook serves.
func credentialsWebhook(app *model.Application) *model.Webhook {
	for _, w := range app.Webhooks {
		if w != nil && w.Type == model.ApplicationWebhookTypeConfigurationChanged {
			return w
		}
	}
	return nil
}

func rawJSON(s *string) json.RawMessage {
	if s == nil {
		return nil
	}
	return json.RawMessage(*s)
}

// SetInstanceAuth records the application's answer to a PENDING instance auth: credentials, or a failure.
func (s *Service) SetInstanceAuth(ctx context.Context, id string, in *model.BundleInstanceAuthSetInput) (*model.BundleInstanceAuth, error) {
	auth, status, err := s.setFromInput(in)
	if err != nil {
		return nil, err
	}
	sc, err := registry.TenantScope(ctx, KindInstanceAuth)
	if err != nil {
		return nil, err
	}
	if _, err := s.loadInstanceAuth(ctx, id); err != nil {
		return nil, err
	}
	r, err := change(ctx, s.store, sc, instanceAuthWhat, id, func(v *authRecord) (any, []string, error) {
		if v.Status.Condition != model.BundleInstanceAuthStatusConditionPending {
			return nil, nil, apperr.New(apperr.CodeConflict, "bundle instance auth %q is %s; only PENDING ones can be set", id, v.Status.Condition)
		}
		v.Auth, v.Status = auth, status
		return v, v.indexes(), nil
	})
	if err != nil {
		return nil, err
	}
	return r.model(), nil
}

func (s *Service) setFromInput(in *model.BundleInstanceAuthSetInput) (*model.Auth, *model.BundleInstanceAuthStatus, error) {
	if in == nil {
		return nil, nil, apperr.Invalid("in: required")
	}
	now := s.now().UTC()
	st := in.Status
	if st != nil && !st.Condition.IsValid() {
		return nil, nil, apperr.Invalid("in.status.condition: %q is not SUCCEEDED or FAILED", st.Condition)
	}
	switch {
	case in.Auth != nil:
		if st != nil && st.Condition != model.BundleInstanceAuthSetStatusConditionInputSucceeded {
			return nil, nil, apperr.Invalid("in.status.condition: must be SUCCEEDED, or left out, when auth is given")
		}
		auth, err := authFromInput("in.auth", in.Auth)
		if err != nil {
			return nil, nil, err
		}
		status := succeeded(now)
		if st != nil && st.Message != "" {
			status.Message = st.Message
		}
		if st != nil && st.Reason != "" {
			status.Reason = st.Reason
		}
		return auth, status, nil
	case st == nil:
		return nil, nil, apperr.Invalid("in: give auth, or a status with condition FAILED")
	case st.Condition != model.BundleInstanceAuthSetStatusConditionInputFailed:
		return nil, nil, apperr.Invalid("in.status.condition: SUCCEEDED needs auth")
	case st.Message == "" || st.Reason == "":
		return nil, nil, apperr.Invalid("in.status: message and reason are required when the condition is FAILED")
	}
	return nil, authStatus(model.BundleInstanceAuthStatusConditionFailed, st.Reason, st.Message, now), nil
}

// RequestInstanceAuthDeletion gives up credentials to a bundle. The rule is Compass's
// (bundleinstanceauth service RequestDeletion, given the bundle's default auth by the resolver): when the
// bundle has a default auth the instance auth is deleted at once (the credentials are shared, there is
// nothing to revoke); otherwise it becomes UNUSED (reason PendingDeletion) whatever its condition —
// PENDING, FAILED, SUCCEEDED or already UNUSED — until the application or its integration system deletes
// it with deleteBundleInstanceAuth. A PENDING one is not deleted at once either: the application may be
// issuing its credentials at that moment, and only it knows whether something must be revoked.
// It returns the instance auth as deleted or as changed.
func (s *Service) RequestInstanceAuthDeletion(ctx context.Context, id string) (*model.BundleInstanceAuth, error) {
	sc, err := registry.TenantScope(ctx, KindInstanceAuth)
	if err != nil {
		return nil, err
	}
	cur, err := s.loadInstanceAuth(ctx, id)
	if err != nil {
		return nil, err
	}
	b, _, err := load[bundleRecord](ctx, s.store, KindBundle, "bundle", cur.BundleID)
	if err != nil && apperr.CodeOf(err) != apperr.CodeNotFound {
		return nil, err
	}
	hasDefault := b != nil && b.DefaultInstanceAuth != nil
	now := s.now().UTC()
	r, err := change(ctx, s.store, sc, instanceAuthWhat, id, func(v *authRecord) (any, []string, error) {
		if hasDefault {
			return nil, nil, nil
		}
		v.Status = authStatus(model.BundleInstanceAuthStatusConditionUnused, reasonPendingDeletion,
			"Credentials for given Bundle Instance Auth are ready for being deleted by Application or Integration System.", now)
		return v, v.indexes(), nil
	})
	if err != nil {
		return nil, err
	}
	return r.model(), nil
}

// DeleteInstanceAuth removes an instance auth, whatever its status, and returns it.
func (s *Service) DeleteInstanceAuth(ctx context.Context, id string) (*model.BundleInstanceAuth, error) {
	if _, err := s.loadInstanceAuth(ctx, id); err != nil {
		return nil, err
	}
	r, err := removeOne[authRecord](ctx, s, KindInstanceAuth, instanceAuthWhat, id)
	if err != nil {
		return nil, err
	}
	return r.model(), nil
}

// InstanceAuth returns one instance auth of the caller's tenant, if the caller may reach it.
func (s *Service) InstanceAuth(ctx context.Context, id string) (*model.BundleInstanceAuth, error) {
	r, err := s.loadInstanceAuth(ctx, id)
	if err != nil {
		return nil, err
	}
	return r.model(), nil
}

// BundleByInstanceAuth returns the bundle an instance auth belongs to, if the caller may reach the
// instance auth.
func (s *Service) BundleByInstanceAuth(ctx context.Context, authID string) (*model.Bundle, error) {
	a, err := s.loadInstanceAuth(ctx, authID)
	if err != nil {
		return nil, err
	}
	b, _, err := load[bundleRecord](ctx, s.store, KindBundle, "bundle", a.BundleID)
	if err != nil {
		return nil, err
	}
	return b.model(), nil
}
