package osb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/broker/director"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// KindInstance is the Registry kind of service instances.
const KindInstance = "serviceinstance"

// Topics on which instance and binding changes are announced.
const (
	TopicInstanceCreated = "serviceinstance.created"
	TopicInstanceUpdated = "serviceinstance.updated"
	TopicInstanceDeleted = "serviceinstance.deleted"
	TopicBindingCreated  = "servicebinding.created"
	TopicBindingDeleted  = "servicebinding.deleted"
)

// instance is a stored service instance with its bindings. Bindings live inside their instance so that
// one write decides both, e.g. that an instance with bindings is not deprovisioned.
type instance struct {
	ID                  string              `json:"id"`
	RuntimeID           string              `json:"runtimeId"`
	ServiceID           string              `json:"serviceId"`
	PlanID              string              `json:"planId"`
	Parameters          json.RawMessage     `json:"parameters,omitempty"`
	Context             json.RawMessage     `json:"context,omitempty"`
	OriginatingIdentity string              `json:"originatingIdentity,omitempty"`
	CreatedAt           time.Time           `json:"createdAt"`
	UpdatedAt           time.Time           `json:"updatedAt"`
	Bindings            map[string]*binding `json:"bindings,omitempty"`
}

// binding is a stored service binding: the Director holds its instance auth, under the same id.
type binding struct {
	ID                  string          `json:"id"`
	Parameters          json.RawMessage `json:"parameters,omitempty"`
	OriginatingIdentity string          `json:"originatingIdentity,omitempty"`
	CreatedAt           time.Time       `json:"createdAt"`
	// Unbinding: the instance auth was given up and waits for the application to delete it.
	Unbinding bool `json:"unbinding,omitempty"`
}

// Event is the payload of the instance and binding topics.
type Event struct {
	Tenant     string `json:"tenant"`
	RuntimeID  string `json:"runtimeId"`
	InstanceID string `json:"instanceId"`
	BindingID  string `json:"bindingId,omitempty"`
	ServiceID  string `json:"serviceId"`
	PlanID     string `json:"planId"`
}

func (c caller) scope() registry.Scope { return registry.Scope{Tenant: c.Tenant, Kind: KindInstance} }

// key keeps each runtime's instances apart: platforms choose instance ids, and two runtimes may choose
// the same one. Runtime ids contain no '.', so the first one separates.
func (c caller) key(instanceID string) string { return c.RuntimeID + "." + instanceID }

func (c caller) event(topic string, in *instance, bindingID string) registry.Event {
	return registry.Event{Topic: topic, Data: Event{
		Tenant: c.Tenant, RuntimeID: c.RuntimeID, InstanceID: in.ID, BindingID: bindingID, ServiceID: in.ServiceID, PlanID: in.PlanID,
	}}
}

// load reads the caller's instance id, or nil when there is none.
func (b *Broker) load(ctx context.Context, c caller, id string) (*instance, error) {
	var in instance
	err := b.store.Get(ctx, c.scope(), c.key(id), &in)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read service instance %s: %w", id, err)
	}
	return &in, nil
}

// change reads instance id, lets fn change it and writes the result: fn returns the instance to keep (nil
// deletes it) and the events that announce the change. fn may run more than once.
func (b *Broker) change(ctx context.Context, c caller, id string, fn func(cur *instance) (*instance, []registry.Event, error)) error {
	return b.store.Mutate(ctx, c.scope(), c.key(id), "", func(current []byte) (registry.Change, error) {
		var cur *instance
		if current != nil {
			cur = new(instance)
			if err := json.Unmarshal(current, cur); err != nil {
				return registry.Change{}, fmt.Errorf("decode service instance %s: %w", id, err)
			}
		}
		next, events, err := fn(cur)
		if err != nil {
			return registry.Change{}, err
		}
		if next == nil {
			return registry.Change{Events: events}, nil
		}
		return registry.Change{Data: next, Events: events, Indexes: []string{runtimeIndex(next.RuntimeID)}}, nil
	})
}

// originatingIdentityKey carries the platform's X-Broker-API-Originating-Identity header.
type originatingIdentityKey struct{}

// WithOriginatingIdentity returns ctx carrying the platform user a request is made for, as the platform
// sent it ("<platform> <base64 JSON>"); it is recorded with instances and bindings and given to the
// application in the instance auth's context.
func WithOriginatingIdentity(ctx context.Context, v string) context.Context {
	return context.WithValue(ctx, originatingIdentityKey{}, v)
}

func originatingIdentity(ctx context.Context) string {
	v, _ := ctx.Value(originatingIdentityKey{}).(string)
	return v
}

// ProvisionRequest is the body of PUT /v2/service_instances/{id}.
type ProvisionRequest struct {
	ServiceID  string          `json:"service_id"`
	PlanID     string          `json:"plan_id"`
	Context    json.RawMessage `json:"context,omitempty"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
}

func requireServiceAndPlan(serviceID, planID string) error {
	switch {
	case serviceID == "":
		return refuse(http.StatusBadRequest, "", "service_id is required")
	case planID == "":
		return refuse(http.StatusBadRequest, "", "plan_id is required")
	}
	return nil
}

// errNotInCatalog refuses a service and plan the runtime cannot see.
var errNotInCatalog = refuse(http.StatusBadRequest, "", "service_id and plan_id must name a service of this runtime's catalog and one of its plans")

// errInstanceConflict is a provision of an existing instance with other attributes.
var errInstanceConflict = refuse(http.StatusConflict, "", "a service instance with this id exists with other attributes")

// Provision creates service instance id and reports whether it did (201); an identical instance that
// already exists is not an error (200), one with other attributes is (409).
func (b *Broker) Provision(ctx context.Context, id string, req ProvisionRequest) (created bool, err error) {
	c, err := callerOf(ctx)
	if err != nil {
		return false, err
	}
	if err := checkID("instance", id); err != nil {
		return false, err
	}
	if err := requireServiceAndPlan(req.ServiceID, req.PlanID); err != nil {
		return false, err
	}
	if err := checkObject("parameters", req.Parameters); err != nil {
		return false, err
	}
	if err := checkObject("context", req.Context); err != nil {
		return false, err
	}
	identical := func(cur *instance) bool {
		return cur.ServiceID == req.ServiceID && cur.PlanID == req.PlanID && sameJSON(cur.Parameters, req.Parameters)
	}
	// A repeated provision is answered from the store, without asking the Director.
	cur, err := b.load(ctx, c, id)
	if err != nil {
		return false, err
	}
	if cur != nil {
		if identical(cur) {
			return false, nil
		}
		return false, errInstanceConflict
	}
	if _, err := b.director.Plan(ctx, req.ServiceID, req.PlanID); err != nil {
		if errors.Is(err, director.ErrNoPlan) {
			return false, errNotInCatalog
		}
		return false, fromDirector(err)
	}
	now := b.now().UTC()
	err = b.change(ctx, c, id, func(cur *instance) (*instance, []registry.Event, error) {
		if cur != nil { // another request made it meanwhile
			created = false
			if identical(cur) {
				return cur, nil, nil
			}
			return nil, nil, errInstanceConflict
		}
		created = true
		in := &instance{
			ID: id, RuntimeID: c.RuntimeID, ServiceID: req.ServiceID, PlanID: req.PlanID,
			Parameters: req.Parameters, Context: req.Context, OriginatingIdentity: originatingIdentity(ctx),
			CreatedAt: now, UpdatedAt: now,
		}
		return in, []registry.Event{c.event(TopicInstanceCreated, in, "")}, nil
	})
	if err != nil {
		return false, err
	}
	return created, nil
}

// InstanceView is GET /v2/service_instances/{id}.
type InstanceView struct {
	ServiceID  string          `json:"service_id"`
	PlanID     string          `json:"plan_id"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
}

var errNoInstance = refuse(http.StatusNotFound, "", "no such service instance")

// Instance returns service instance id.
func (b *Broker) Instance(ctx context.Context, id string) (*InstanceView, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkID("instance", id); err != nil {
		return nil, err
	}
	in, err := b.load(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if in == nil {
		return nil, errNoInstance
	}
	return &InstanceView{ServiceID: in.ServiceID, PlanID: in.PlanID, Parameters: in.Parameters}, nil
}

// UpdateRequest is the body of PATCH /v2/service_instances/{id}.
type UpdateRequest struct {
	ServiceID  string          `json:"service_id"`
	PlanID     string          `json:"plan_id,omitempty"`
	Context    json.RawMessage `json:"context,omitempty"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
}

// Update changes an instance's parameters or context, or moves it to another plan of its service. A plan
// change needs an instance without bindings: each binding is an instance auth of the old plan's bundle.
func (b *Broker) Update(ctx context.Context, id string, req UpdateRequest) error {
	c, err := callerOf(ctx)
	if err != nil {
		return err
	}
	if err := checkID("instance", id); err != nil {
		return err
	}
	if req.ServiceID == "" {
		return refuse(http.StatusBadRequest, "", "service_id is required")
	}
	if err := checkObject("parameters", req.Parameters); err != nil {
		return err
	}
	if err := checkObject("context", req.Context); err != nil {
		return err
	}
	cur, err := b.load(ctx, c, id)
	if err != nil {
		return err
	}
	if cur == nil {
		return errNoInstance
	}
	if cur.ServiceID != req.ServiceID {
		return refuse(http.StatusBadRequest, "", "service_id does not match the service instance")
	}
	if req.PlanID != "" && req.PlanID != cur.PlanID {
		if _, err := b.director.Plan(ctx, req.ServiceID, req.PlanID); err != nil {
			if errors.Is(err, director.ErrNoPlan) {
				return errNotInCatalog
			}
			return fromDirector(err)
		}
	}
	now := b.now().UTC()
	return b.change(ctx, c, id, func(cur *instance) (*instance, []registry.Event, error) {
		if cur == nil {
			return nil, nil, errNoInstance
		}
		if req.PlanID != "" && req.PlanID != cur.PlanID {
			if len(cur.Bindings) > 0 {
				return nil, nil, refuse(http.StatusUnprocessableEntity, "PlanChangeNotSupported",
					"the service instance has %d bindings to its plan; unbind them before changing the plan", len(cur.Bindings))
			}
			cur.PlanID = req.PlanID
		}
		if req.Parameters != nil {
			cur.Parameters = req.Parameters
		}
		if req.Context != nil {
			cur.Context = req.Context
		}
		cur.UpdatedAt = now
		return cur, []registry.Event{c.event(TopicInstanceUpdated, cur, "")}, nil
	})
}

// Deprovision deletes service instance id. It is refused while the instance has bindings: each is an
// instance auth with credentials the application handed out, and the platform unbinds before it
// deprovisions, so bindings left mean something is still using them.
func (b *Broker) Deprovision(ctx context.Context, id, serviceID, planID string) error {
	c, err := callerOf(ctx)
	if err != nil {
		return err
	}
	if err := checkID("instance", id); err != nil {
		return err
	}
	if err := requireServiceAndPlan(serviceID, planID); err != nil {
		return err
	}
	return b.change(ctx, c, id, func(cur *instance) (*instance, []registry.Event, error) {
		switch {
		case cur == nil:
			return nil, nil, errInstanceGone
		case cur.ServiceID != serviceID || cur.PlanID != planID:
			return nil, nil, refuse(http.StatusBadRequest, "", "service_id and plan_id do not match the service instance")
		case len(cur.Bindings) > 0:
			return nil, nil, refuse(http.StatusBadRequest, "BindingsExist",
				"the service instance has %d bindings; unbind them before deprovisioning", len(cur.Bindings))
		}
		return nil, []registry.Event{c.event(TopicInstanceDeleted, cur, "")}, nil
	})
}

// LastOperation states.
const (
	InProgress = "in progress"
	Succeeded  = "succeeded"
	Failed     = "failed"
)

// LastOperation is the answer to a last_operation poll.
type LastOperation struct {
	State       string `json:"state"`
	Description string `json:"description,omitempty"`
}

// InstanceLastOperation answers a poll for an instance. Instances are provisioned, updated and deleted
// synchronously, so an instance that exists has succeeded.
func (b *Broker) InstanceLastOperation(ctx context.Context, id string) (*LastOperation, error) {
	if _, err := b.Instance(ctx, id); err != nil {
		return nil, err
	}
	return &LastOperation{State: Succeeded}, nil
}
