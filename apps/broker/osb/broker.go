// Package osb is the System Broker's domain: the Open Service Broker API's catalog, service instances and
// service bindings, over the applications and bundles the Director shows the calling runtime.
//
// An application is a service and each of its bundles a plan. A service instance is the runtime's
// record that it uses a plan; instances live in the broker's own state store, keyed by the runtime, so
// one runtime never sees another's. A binding is a bundle instance auth in the Director, created under the
// binding's id: its credentials stay in the Director and are read from there when the platform asks.
//
// Every call to the Director is made as the calling runtime, so the Director decides visibility and
// access. The package knows nothing of HTTP: package api maps its results and *Error values onto the OSB
// wire format.
package osb

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/broker/director"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Director is what the broker asks the Director, as the calling runtime (*director.Client).
type Director interface {
	Applications(ctx context.Context) ([]director.Application, error)
	Plan(ctx context.Context, appID, bundleID string) (*director.Plan, error)
	RequestInstanceAuth(ctx context.Context, bundleID, id string, authContext, params json.RawMessage) (*director.InstanceAuth, error)
	InstanceAuth(ctx context.Context, id string) (*director.Binding, error)
	RequestInstanceAuthDeletion(ctx context.Context, id string) error
	Specification(ctx context.Context, appID, bundleID, defID string, api bool) (*director.Specification, error)
}

// Store keeps service instances (*registry.Registry).
type Store interface {
	Get(ctx context.Context, s registry.Scope, id string, out any) error
	Mutate(ctx context.Context, s registry.Scope, id, writeID string, fn registry.MutateFunc) error
	registry.Lister
}

// Config is what the broker needs besides its collaborators.
type Config struct {
	// SpecURL returns the public URL of a definition's specification; kind is "apis" or "events".
	SpecURL func(appID, bundleID, kind, defID string) string
}

// Broker serves the OSB operations.
type Broker struct {
	director Director
	store    Store
	log      *slog.Logger
	cfg      Config
	now      func() time.Time
}

// New returns a broker.
func New(d Director, s Store, log *slog.Logger, cfg Config) *Broker {
	return &Broker{director: d, store: s, log: log, cfg: cfg, now: time.Now}
}

// Error is a refusal the platform sees as an OSB error: an HTTP status, an optional error code from the
// OSB spec (AsyncRequired, ConcurrencyError, ...) and a description.
type Error struct {
	Status      int
	Code        string
	Description string
	// Empty: the spec wants "{}" for this answer (410 Gone, for example), not an error body.
	Empty bool
}

func (e *Error) Error() string { return e.Description }

func refuse(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Description: fmt.Sprintf(format, args...)}
}

// Refusals shared by several operations.
var (
	errAsyncRequired = refuse(http.StatusUnprocessableEntity, "AsyncRequired",
		"this operation waits for the application; send accepts_incomplete=true and poll last_operation")
	errInstanceGone = &Error{Status: http.StatusGone, Description: "no such service instance", Empty: true}
	errBindingGone  = &Error{Status: http.StatusGone, Description: "no such service binding", Empty: true}
)

// fromDirector turns a Director refusal into the OSB answer for it; other errors stay internal.
func fromDirector(err error) error {
	msg, public := apperr.Public(err)
	if !public {
		return err
	}
	switch apperr.CodeOf(err) {
	case apperr.CodeInvalidInput:
		return refuse(http.StatusBadRequest, "", "%s", msg)
	case apperr.CodeForbidden:
		return refuse(http.StatusForbidden, "", "%s", msg)
	case apperr.CodeUnauthenticated:
		return refuse(http.StatusUnauthorized, "", "%s", msg)
	case apperr.CodeUnavailable:
		return refuse(http.StatusServiceUnavailable, "", "%s", msg)
	}
	return err
}

// caller is the runtime a request comes from.
type caller struct {
	Tenant, RuntimeID string
}

// callerOf returns the calling runtime; the API lets only runtimes through, this is the last line.
func callerOf(ctx context.Context) (caller, error) {
	id, ok := identity.FromContext(ctx)
	if !ok || id.ConsumerType != identity.ConsumerRuntime || id.Tenant == "" || id.Subject == "" {
		return caller{}, refuse(http.StatusForbidden, "", "only runtimes use the System Broker")
	}
	return caller{Tenant: id.Tenant, RuntimeID: id.Subject}, nil
}

// idPattern is what instance and binding ids may look like: the ids platforms generate (GUIDs) fit, and
// a binding id is also the id of its instance auth in the Director, which allows the same.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func checkID(what, id string) error {
	if !idPattern.MatchString(id) {
		return refuse(http.StatusBadRequest, "", "%s id: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", what)
	}
	return nil
}

// sameJSON reports whether two JSON documents are equal as values (key order and spacing aside); absent
// and null are equal.
func sameJSON(a, b json.RawMessage) bool {
	var va, vb any
	if len(a) > 0 && json.Unmarshal(a, &va) != nil {
		return false
	}
	if len(b) > 0 && json.Unmarshal(b, &vb) != nil {
		return false
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return string(ja) == string(jb)
}

// checkObject refuses a parameters or context value that is not a JSON object (or absent).
func checkObject(field string, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return refuse(http.StatusBadRequest, "", "%s: must be a JSON object", field)
	}
	return nil
}
