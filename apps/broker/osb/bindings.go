package osb

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/mgmtplane/mgmtplane/apps/broker/director"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Operations named in 202 answers and echoed by the platform when it polls.
const (
	OperationBind   = "bind"
	OperationUnbind = "unbind"
)

// BindRequest is the body of PUT /v2/service_instances/{id}/service_bindings/{binding_id}.
type BindRequest struct {
	ServiceID    string          `json:"service_id"`
	PlanID       string          `json:"plan_id"`
	Context      json.RawMessage `json:"context,omitempty"`
	BindResource json.RawMessage `json:"bind_resource,omitempty"`
	Parameters   json.RawMessage `json:"parameters,omitempty"`
}

// BindResult is what a bind answers: 201 with credentials, 200 when an identical binding exists, or 202
// while the application has not answered.
type BindResult struct {
	Status      int
	Credentials *Credentials
	Operation   string
}

// Credentials are a binding's credentials, in the shape Compass's broker gave them: the bundle's API
// target URLs and the instance auth's credentials.
type Credentials struct {
	ID              string            `json:"id"`
	CredentialsType string            `json:"credentials_type"`
	TargetURLs      map[string]string `json:"target_urls"`
	AuthDetails     AuthDetails       `json:"auth_details"`
}

// Credential types.
const (
	CredentialsBasic  = "basic_auth"
	CredentialsOAuth  = "oauth"
	CredentialsNoAuth = "no_auth"
)

// AuthDetails is how to call the bundle's APIs.
type AuthDetails struct {
	Auth              map[string]string  `json:"auth,omitempty"`
	RequestParameters *RequestParameters `json:"request_parameters,omitempty"`
	CSRFConfig        *CSRFConfig        `json:"csrf_config,omitempty"`
}

// RequestParameters are headers and query parameters to send with every call.
type RequestParameters struct {
	Headers         map[string][]string `json:"headers,omitempty"`
	QueryParameters map[string][]string `json:"query_parameters,omitempty"`
}

// CSRFConfig names the endpoint to fetch a CSRF token from before a call.
type CSRFConfig struct {
	TokenURL string `json:"token_url"`
}

// credentialsOf maps a SUCCEEDED instance auth to credentials.
func credentialsOf(b *director.Binding) *Credentials {
	c := &Credentials{ID: b.InstanceAuth.ID, CredentialsType: CredentialsNoAuth, TargetURLs: b.TargetURLs}
	a := b.InstanceAuth.Auth
	if a == nil {
		return c
	}
	if cred := a.Credential; cred != nil {
		switch {
		case cred.Typename == "BasicCredentialData" || cred.Username != "":
			c.CredentialsType = CredentialsBasic
			c.AuthDetails.Auth = map[string]string{"username": cred.Username, "password": cred.Password}
		case cred.Typename == "OAuthCredentialData" || cred.ClientID != "":
			c.CredentialsType = CredentialsOAuth
			c.AuthDetails.Auth = map[string]string{"clientId": cred.ClientID, "clientSecret": cred.ClientSecret, "tokenUrl": cred.URL}
		}
	}
	if len(a.AdditionalHeaders) > 0 || len(a.AdditionalQueryParams) > 0 {
		c.AuthDetails.RequestParameters = &RequestParameters{Headers: a.AdditionalHeaders, QueryParameters: a.AdditionalQueryParams}
	}
	if a.RequestAuth != nil && a.RequestAuth.CSRF != nil {
		c.AuthDetails.CSRFConfig = &CSRFConfig{TokenURL: a.RequestAuth.CSRF.TokenEndpointURL}
	}
	return c
}

// authContext is the context of the instance auth a binding creates: it tells the application who asks.
func authContext(ctx context.Context, c caller, in *instance, bindingID string, req BindRequest) json.RawMessage {
	m := map[string]any{
		"source": "system-broker", "runtimeId": c.RuntimeID,
		"instanceId": in.ID, "bindingId": bindingID, "serviceId": in.ServiceID, "planId": in.PlanID,
	}
	if oi := originatingIdentity(ctx); oi != "" {
		m["originatingIdentity"] = decodeOriginatingIdentity(oi)
	}
	if len(req.Context) > 0 {
		m["platformContext"] = req.Context
	}
	if len(req.BindResource) > 0 {
		m["bindResource"] = req.BindResource
	}
	raw, _ := json.Marshal(m)
	return raw
}

// decodeOriginatingIdentity turns "<platform> <base64 JSON>" into {"platform": ..., "value": {...}}; what
// cannot be decoded is kept as sent.
func decodeOriginatingIdentity(h string) any {
	platform, encoded, ok := strings.Cut(h, " ")
	if !ok {
		return h
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil || !json.Valid(raw) {
		return h
	}
	return map[string]any{"platform": platform, "value": json.RawMessage(raw)}
}

var (
	errBindingConflict = refuse(http.StatusConflict, "", "a service binding with this id exists with other attributes")
	errUnbinding       = refuse(http.StatusUnprocessableEntity, "ConcurrencyError", "the service binding is being unbound")
	errNoBinding       = refuse(http.StatusNotFound, "", "no such service binding")
	errPlanMismatch    = refuse(http.StatusBadRequest, "", "service_id and plan_id do not match the service instance")
)

// Bind creates binding bindingID of instance instanceID: a bundle instance auth in the Director under the
// same id. When the bundle hands out credentials at once (a default auth) the bind is synchronous;
// otherwise the application answers, perhaps later, and the bind needs asyncAllowed (accepts_incomplete).
func (b *Broker) Bind(ctx context.Context, instanceID, bindingID string, req BindRequest, asyncAllowed bool) (*BindResult, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkID("instance", instanceID); err != nil {
		return nil, err
	}
	if err := checkID("binding", bindingID); err != nil {
		return nil, err
	}
	if err := requireServiceAndPlan(req.ServiceID, req.PlanID); err != nil {
		return nil, err
	}
	if err := checkObject("parameters", req.Parameters); err != nil {
		return nil, err
	}
	in, err := b.load(ctx, c, instanceID)
	if err != nil {
		return nil, err
	}
	if in == nil {
		return nil, errNoInstance
	}
	if in.ServiceID != req.ServiceID || in.PlanID != req.PlanID {
		return nil, errPlanMismatch
	}
	if existing := in.Bindings[bindingID]; existing != nil {
		if existing.Unbinding {
			return nil, errUnbinding
		}
		if !sameJSON(existing.Parameters, req.Parameters) {
			return nil, errBindingConflict
		}
		if res, err := b.repeatedBind(ctx, bindingID, asyncAllowed); res != nil || err != nil {
			return res, err
		}
		// Recorded, but the Director has no instance auth: the first attempt failed before it made one.
	}

	plan, err := b.director.Plan(ctx, in.ServiceID, in.PlanID)
	if errors.Is(err, director.ErrNoPlan) {
		return nil, refuse(http.StatusUnprocessableEntity, "", "the runtime no longer sees this service and plan")
	}
	if err != nil {
		return nil, fromDirector(err)
	}
	if !plan.Immediate && !asyncAllowed {
		return nil, errAsyncRequired
	}

	// The binding is recorded before the instance auth is made: if the broker fails in between, the
	// platform's orphan mitigation (an unbind) finds it and cleans up.
	now := b.now().UTC()
	err = b.change(ctx, c, instanceID, func(cur *instance) (*instance, []registry.Event, error) {
		if cur == nil {
			return nil, nil, errNoInstance
		}
		if bd := cur.Bindings[bindingID]; bd != nil {
			if !sameJSON(bd.Parameters, req.Parameters) {
				return nil, nil, errBindingConflict
			}
			return cur, nil, nil
		}
		if cur.Bindings == nil {
			cur.Bindings = map[string]*binding{}
		}
		cur.Bindings[bindingID] = &binding{ID: bindingID, Parameters: req.Parameters, OriginatingIdentity: originatingIdentity(ctx), CreatedAt: now}
		return cur, []registry.Event{c.event(TopicBindingCreated, cur, bindingID)}, nil
	})
	if err != nil {
		return nil, err
	}

	auth, err := b.director.RequestInstanceAuth(ctx, plan.BundleID, bindingID, authContext(ctx, c, in, bindingID, req), req.Parameters)
	switch {
	case apperr.CodeOf(err) == apperr.CodeAlreadyExists:
		// A retry of a bind whose answer was lost: the instance auth is ours if the Director shows it to us.
		res, rerr := b.repeatedBind(ctx, bindingID, asyncAllowed)
		if rerr != nil || res != nil {
			return res, rerr
		}
		b.forget(ctx, c, instanceID, bindingID)
		return nil, errBindingConflict
	case apperr.CodeOf(err) == apperr.CodeInvalidInput:
		// The parameters do not satisfy the bundle's schema: nothing was made, so nothing stays.
		b.forget(ctx, c, instanceID, bindingID)
		return nil, fromDirector(err)
	case err != nil:
		return nil, fromDirector(err)
	}
	if auth.Status.Condition == director.Succeeded {
		creds, err := b.credentials(ctx, bindingID)
		if err != nil {
			return nil, err
		}
		return &BindResult{Status: http.StatusCreated, Credentials: creds}, nil
	}
	return &BindResult{Status: http.StatusAccepted, Operation: OperationBind}, nil
}

// repeatedBind answers a bind of a binding that was recorded before from the Director's instance auth,
// or returns nil when the Director has none.
func (b *Broker) repeatedBind(ctx context.Context, bindingID string, asyncAllowed bool) (*BindResult, error) {
	ia, err := b.director.InstanceAuth(ctx, bindingID)
	if err != nil {
		return nil, fromDirector(err)
	}
	if ia == nil {
		return nil, nil
	}
	if ia.InstanceAuth.Status.Condition == director.Succeeded {
		return &BindResult{Status: http.StatusOK, Credentials: credentialsOf(ia)}, nil
	}
	if !asyncAllowed {
		return nil, errAsyncRequired
	}
	return &BindResult{Status: http.StatusAccepted, Operation: OperationBind}, nil
}

// credentials reads the credentials of a SUCCEEDED instance auth with its target URLs.
func (b *Broker) credentials(ctx context.Context, bindingID string) (*Credentials, error) {
	ia, err := b.director.InstanceAuth(ctx, bindingID)
	if err != nil {
		return nil, fromDirector(err)
	}
	if ia == nil {
		return nil, fmt.Errorf("instance auth %s vanished right after it was made", bindingID)
	}
	return credentialsOf(ia), nil
}

// forget removes a binding record, for binds that made nothing in the Director.
func (b *Broker) forget(ctx context.Context, c caller, instanceID, bindingID string) {
	if err := b.dropBinding(ctx, c, instanceID, bindingID); err != nil {
		// The record stays; an unbind (the platform's orphan mitigation) removes it.
		b.log.ErrorContext(ctx, "forget a failed binding", "instance", instanceID, "binding", bindingID, "err", err)
	}
}

// BindingView is GET .../service_bindings/{binding_id}.
type BindingView struct {
	Credentials *Credentials    `json:"credentials"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// Binding returns a binding with its credentials; 404 while the application has not answered.
func (b *Broker) Binding(ctx context.Context, instanceID, bindingID string) (*BindingView, error) {
	_, in, bd, err := b.loadBinding(ctx, instanceID, bindingID)
	if err != nil {
		return nil, err
	}
	if in == nil || bd == nil || bd.Unbinding {
		return nil, errNoBinding
	}
	ia, err := b.director.InstanceAuth(ctx, bindingID)
	if err != nil {
		return nil, fromDirector(err)
	}
	if ia == nil {
		return nil, errNoBinding
	}
	if ia.InstanceAuth.Status.Condition != director.Succeeded {
		return nil, refuse(http.StatusNotFound, "", "the service binding has no credentials yet (%s)", strings.ToLower(ia.InstanceAuth.Status.Condition))
	}
	return &BindingView{Credentials: credentialsOf(ia), Parameters: bd.Parameters}, nil
}

func (b *Broker) loadBinding(ctx context.Context, instanceID, bindingID string) (caller, *instance, *binding, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return caller{}, nil, nil, err
	}
	if err := checkID("instance", instanceID); err != nil {
		return caller{}, nil, nil, err
	}
	if err := checkID("binding", bindingID); err != nil {
		return caller{}, nil, nil, err
	}
	in, err := b.load(ctx, c, instanceID)
	if err != nil || in == nil {
		return c, nil, nil, err
	}
	return c, in, in.Bindings[bindingID], nil
}

// Unbind gives up binding bindingID: its instance auth is deleted at once when the bundle has a default
// auth (200); otherwise it waits for the application to revoke the credentials (202, needs asyncAllowed).
// An unknown binding is 410 Gone, which the platform takes as done.
func (b *Broker) Unbind(ctx context.Context, instanceID, bindingID, serviceID, planID string, asyncAllowed bool) (accepted bool, err error) {
	if err := requireServiceAndPlan(serviceID, planID); err != nil {
		return false, err
	}
	c, in, bd, err := b.loadBinding(ctx, instanceID, bindingID)
	if err != nil {
		return false, err
	}
	if in == nil || bd == nil {
		return false, errBindingGone
	}
	if in.ServiceID != serviceID || in.PlanID != planID {
		return false, errPlanMismatch
	}
	ia, err := b.director.InstanceAuth(ctx, bindingID)
	if err != nil {
		return false, fromDirector(err)
	}
	if ia == nil {
		// Never made (a bind that failed half way) or already deleted by the application.
		return false, b.dropBinding(ctx, c, instanceID, bindingID)
	}
	if !bd.Unbinding {
		plan, err := b.director.Plan(ctx, in.ServiceID, in.PlanID)
		switch {
		case errors.Is(err, director.ErrNoPlan):
			// The runtime lost sight of the application (a scenario was removed): the Director would refuse
			// to give the instance auth up for it, so only the application or an administrator can.
			b.log.WarnContext(ctx, "unbind of a binding whose application the runtime no longer sees; its instance auth stays",
				"instance", instanceID, "binding", bindingID)
			return false, b.dropBinding(ctx, c, instanceID, bindingID)
		case err != nil:
			return false, fromDirector(err)
		case !plan.Immediate && !asyncAllowed:
			return false, errAsyncRequired
		}
		if err := b.director.RequestInstanceAuthDeletion(ctx, bindingID); err != nil && apperr.CodeOf(err) != apperr.CodeNotFound {
			return false, fromDirector(err)
		}
		if ia, err = b.director.InstanceAuth(ctx, bindingID); err != nil {
			return false, fromDirector(err)
		}
		if ia == nil {
			return false, b.dropBinding(ctx, c, instanceID, bindingID)
		}
		err = b.change(ctx, c, instanceID, func(cur *instance) (*instance, []registry.Event, error) {
			if cur == nil || cur.Bindings[bindingID] == nil {
				return cur, nil, nil
			}
			cur.Bindings[bindingID].Unbinding = true
			return cur, nil, nil
		})
		if err != nil {
			return false, err
		}
	}
	if !asyncAllowed {
		return false, errAsyncRequired
	}
	return true, nil
}

// dropBinding removes a binding record: its instance auth is gone, or was never made.
func (b *Broker) dropBinding(ctx context.Context, c caller, instanceID, bindingID string) error {
	return b.change(ctx, c, instanceID, func(cur *instance) (*instance, []registry.Event, error) {
		if cur == nil || cur.Bindings[bindingID] == nil {
			return cur, nil, nil
		}
		delete(cur.Bindings, bindingID)
		return cur, []registry.Event{c.event(TopicBindingDeleted, cur, bindingID)}, nil
	})
}

// BindingLastOperation answers a poll for a bind or an unbind in progress.
func (b *Broker) BindingLastOperation(ctx context.Context, instanceID, bindingID, operation string) (*LastOperation, error) {
	c, in, bd, err := b.loadBinding(ctx, instanceID, bindingID)
	if err != nil {
		return nil, err
	}
	if in == nil || bd == nil {
		if operation == OperationUnbind {
			return nil, errBindingGone // the platform takes 410 as a finished unbind
		}
		return nil, errNoBinding
	}
	ia, err := b.director.InstanceAuth(ctx, bindingID)
	if err != nil {
		return nil, fromDirector(err)
	}
	if bd.Unbinding {
		if ia == nil {
			if err := b.dropBinding(ctx, c, instanceID, bindingID); err != nil {
				return nil, err
			}
			return &LastOperation{State: Succeeded, Description: "the application deleted the credentials"}, nil
		}
		return &LastOperation{State: InProgress, Description: "waiting for the application to revoke the credentials"}, nil
	}
	if ia == nil {
		return &LastOperation{State: Failed, Description: "the instance auth no longer exists"}, nil
	}
	st := ia.InstanceAuth.Status
	switch st.Condition {
	case director.Succeeded:
		return &LastOperation{State: Succeeded}, nil
	case director.Pending:
		return &LastOperation{State: InProgress, Description: "waiting for the application to provide credentials"}, nil
	case director.Failed:
		return &LastOperation{State: Failed, Description: describeFailure(st.Reason, st.Message)}, nil
	default: // UNUSED without an unbind from us: someone else gave it up
		return &LastOperation{State: Failed, Description: "the credentials were given up"}, nil
	}
}

func describeFailure(reason, message string) string {
	switch {
	case reason != "" && message != "":
		return reason + ": " + message
	case message != "":
		return message
	case reason != "":
		return reason
	}
	return "the application refused to provide credentials"
}
