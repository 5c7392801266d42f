// Package api is the System Broker's HTTP edge: the Open Service Broker API v2 routes over package osb,
// and the specifications its catalog links to. The gateway authenticates the caller and vouches for it
// with an assertion (checked before this handler runs); this package lets only runtimes through and
// speaks the OSB wire format: the X-Broker-API-Version check (412), error bodies
// {"error", "description"}, X-Broker-API-Request-Identity echoed, X-Broker-API-Originating-Identity
// recorded.
//
// Why not a broker framework: pivotal-cf/brokerapi (the library Compass used) checks a provision against
// the whole catalog — a full Director walk per provision, a Director failure answered as 400 — and answers
// unexpected errors with their text. Our routes are few, and the wire shapes are ours to keep.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/mgmtplane/mgmtplane/apps/broker/osb"
	"github.com/mgmtplane/mgmtplane/apps/internal/audit"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// Header names of the OSB API.
const (
	HeaderAPIVersion          = "X-Broker-API-Version"
	HeaderOriginatingIdentity = "X-Broker-API-Originating-Identity"
	HeaderRequestIdentity     = "X-Broker-API-Request-Identity"
)

// maxBody bounds request bodies: parameters and context are small.
const maxBody = 1 << 20

type handler struct {
	broker *osb.Broker
	log    *slog.Logger
	audit  audit.Publisher
	app    string
}

// Handler returns the broker's routes. The caller wraps it with the assertion check.
func Handler(b *osb.Broker, log *slog.Logger, app string, pub audit.Publisher) http.Handler {
	h := &handler{broker: b, log: log, audit: pub, app: app}
	v2 := http.NewServeMux()
	v2.HandleFunc("GET /v2/catalog", h.catalog)
	v2.HandleFunc("PUT /v2/service_instances/{instance_id}", h.provision)
	v2.HandleFunc("GET /v2/service_instances/{instance_id}", h.getInstance)
	v2.HandleFunc("PATCH /v2/service_instances/{instance_id}", h.update)
	v2.HandleFunc("DELETE /v2/service_instances/{instance_id}", h.deprovision)
	v2.HandleFunc("GET /v2/service_instances/{instance_id}/last_operation", h.instanceLastOperation)
	v2.HandleFunc("PUT /v2/service_instances/{instance_id}/service_bindings/{binding_id}", h.bind)
	v2.HandleFunc("GET /v2/service_instances/{instance_id}/service_bindings/{binding_id}", h.getBinding)
	v2.HandleFunc("DELETE /v2/service_instances/{instance_id}/service_bindings/{binding_id}", h.unbind)
	v2.HandleFunc("GET /v2/service_instances/{instance_id}/service_bindings/{binding_id}/last_operation", h.bindingLastOperation)
	v2.HandleFunc("/v2/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &osb.Error{Status: http.StatusNotFound, Description: "no such OSB endpoint"})
	})

	mux := http.NewServeMux()
	mux.Handle("/v2/", echoRequestIdentity(runtimesOnly(requireVersion(h.audited(v2)))))
	mux.Handle("GET /specifications/{app}/{bundle}/{kind}/{def}", runtimesOnly(http.HandlerFunc(h.specification)))
	// Not OSB: the tenant's instances and bindings for the people who run the plane (package osb, list.go).
	mux.HandleFunc("GET /v1/instances", h.instances)
	return mux
}

// echoRequestIdentity returns the platform's request id on every answer, refusals included.
func echoRequestIdentity(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := r.Header.Get(HeaderRequestIdentity); id != "" {
			w.Header().Set(HeaderRequestIdentity, id)
		}
		next.ServeHTTP(w, r)
	})
}

// requireVersion refuses requests without X-Broker-API-Version 2.x (412, as the spec allows and
// platforms expect), and keeps the originating identity for the domain.
func requireVersion(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.Header.Get(HeaderAPIVersion)
		major, minor, ok := strings.Cut(v, ".")
		if _, err := strconv.Atoi(minor); !ok || major != "2" || err != nil {
			writeError(w, &osb.Error{Status: http.StatusPreconditionFailed, Code: "UnsupportedAPIVersion",
				Description: fmt.Sprintf("%s must be 2.x (this broker implements 2.17); got %q", HeaderAPIVersion, v)})
			return
		}
		ctx := r.Context()
		if oi := r.Header.Get(HeaderOriginatingIdentity); oi != "" {
			ctx = osb.WithOriginatingIdentity(ctx, oi)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// runtimesOnly refuses callers other than runtimes: the catalog is what a runtime may consume.
func runtimesOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := identity.FromContext(r.Context())
		if !ok || id.ConsumerType != identity.ConsumerRuntime {
			writeError(w, &osb.Error{Status: http.StatusForbidden, Code: "Forbidden",
				Description: "only runtimes use the System Broker: authenticate with the runtime's client certificate, OAuth token or client credentials"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status an answer went out with, for the audit record.
type statusRecorder struct {
	http.ResponseWriter
	status int
	desc   string
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// audited records every request that may change something (PUT, PATCH, DELETE).
func (h *handler) audited(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		ctx, entry := audit.Begin(r.Context(), h.app, r.Method+" "+r.URL.Path, nil, h.audit)
		entry.OnBehalfOf = r.Header.Get(HeaderOriginatingIdentity)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r.WithContext(ctx))
		var errs []string
		if rec.status >= 400 {
			errs = []string{strconv.Itoa(rec.status) + ": " + rec.desc}
		}
		entry.Finish(ctx, h.log, h.audit, errs)
	})
}

// errorBody is the OSB error format.
type errorBody struct {
	Error       string `json:"error,omitempty"`
	Description string `json:"description"`
}

// codes name the refusals that the spec gives no code of their own.
var codes = map[int]string{
	http.StatusBadRequest: "BadRequest", http.StatusUnauthorized: "Unauthorized", http.StatusForbidden: "Forbidden",
	http.StatusNotFound: "NotFound", http.StatusConflict: "Conflict", http.StatusUnprocessableEntity: "UnprocessableEntity",
	http.StatusServiceUnavailable: "ServiceUnavailable",
}

func writeError(w http.ResponseWriter, e *osb.Error) {
	if rec, ok := w.(*statusRecorder); ok {
		rec.desc = e.Description
	}
	if e.Empty {
		writeJSON(w, e.Status, struct{}{})
		return
	}
	code := e.Code
	if code == "" {
		code = codes[e.Status]
	}
	writeJSON(w, e.Status, errorBody{Error: code, Description: e.Description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers err: an *osb.Error as it says, anything else as a 500 that names the request but tells
// nothing of the inside (the log has it).
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *osb.Error
	if errors.As(err, &e) {
		writeError(w, e)
		return
	}
	rid := r.Header.Get("X-Request-Id")
	h.log.ErrorContext(r.Context(), "broker request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, &osb.Error{Status: http.StatusInternalServerError, Code: "InternalError",
		Description: "the broker could not complete the request; request id " + rid})
}

// decode reads a JSON request body into v; a broken body is a 400 and nothing happens.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return &osb.Error{Status: http.StatusBadRequest, Description: "cannot read the request body"}
	}
	if len(body) > maxBody {
		return &osb.Error{Status: http.StatusRequestEntityTooLarge, Code: "BodyTooLarge", Description: "the request body exceeds 1 MiB"}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &osb.Error{Status: http.StatusBadRequest, Description: "the request body is not valid JSON: " + err.Error()}
	}
	return nil
}

func acceptsIncomplete(r *http.Request) bool {
	return r.URL.Query().Get("accepts_incomplete") == "true"
}

var empty = struct{}{}

func (h *handler) catalog(w http.ResponseWriter, r *http.Request) {
	c, err := h.broker.Catalog(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (h *handler) provision(w http.ResponseWriter, r *http.Request) {
	var req osb.ProvisionRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	created, err := h.broker.Provision(r.Context(), r.PathValue("instance_id"), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, empty)
}

func (h *handler) getInstance(w http.ResponseWriter, r *http.Request) {
	in, err := h.broker.Instance(r.Context(), r.PathValue("instance_id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}

func (h *handler) update(w http.ResponseWriter, r *http.Request) {
	var req osb.UpdateRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.broker.Update(r.Context(), r.PathValue("instance_id"), req); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, empty)
}

func (h *handler) deprovision(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := h.broker.Deprovision(r.Context(), r.PathValue("instance_id"), q.Get("service_id"), q.Get("plan_id")); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, empty)
}

func (h *handler) instanceLastOperation(w http.ResponseWriter, r *http.Request) {
	op, err := h.broker.InstanceLastOperation(r.Context(), r.PathValue("instance_id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, op)
}

func (h *handler) bind(w http.ResponseWriter, r *http.Request) {
	var req osb.BindRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	res, err := h.broker.Bind(r.Context(), r.PathValue("instance_id"), r.PathValue("binding_id"), req, acceptsIncomplete(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if res.Status == http.StatusAccepted {
		writeJSON(w, res.Status, map[string]string{"operation": res.Operation})
		return
	}
	writeJSON(w, res.Status, map[string]any{"credentials": res.Credentials})
}

func (h *handler) getBinding(w http.ResponseWriter, r *http.Request) {
	b, err := h.broker.Binding(r.Context(), r.PathValue("instance_id"), r.PathValue("binding_id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func (h *handler) unbind(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	accepted, err := h.broker.Unbind(r.Context(), r.PathValue("instance_id"), r.PathValue("binding_id"),
		q.Get("service_id"), q.Get("plan_id"), acceptsIncomplete(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if accepted {
		writeJSON(w, http.StatusAccepted, map[string]string{"operation": osb.OperationUnbind})
		return
	}
	writeJSON(w, http.StatusOK, empty)
}

func (h *handler) bindingLastOperation(w http.ResponseWriter, r *http.Request) {
	op, err := h.broker.BindingLastOperation(r.Context(), r.PathValue("instance_id"), r.PathValue("binding_id"),
		r.URL.Query().Get("operation"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, op)
}

// specification serves a definition's specification, as the Director shows it to the calling runtime.
func (h *handler) specification(w http.ResponseWriter, r *http.Request) {
	kind := r.PathValue("kind")
	if kind != "apis" && kind != "events" {
		writeError(w, &osb.Error{Status: http.StatusNotFound, Description: "no such specification"})
		return
	}
	data, mediaType, found, err := h.broker.Specification(r.Context(), r.PathValue("app"), r.PathValue("bundle"), r.PathValue("def"), kind == "apis")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !found {
		writeError(w, &osb.Error{Status: http.StatusNotFound, Description: "no such specification"})
		return
	}
	w.Header().Set("Content-Type", mediaType)
	_, _ = io.WriteString(w, data)
}

// instances is GET /v1/instances?runtimeId=&first=&after=: one page of the tenant's service instances.
func (h *handler) instances(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	first := 50
	if v := q.Get("first"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, &osb.Error{Status: http.StatusBadRequest, Description: "first must be a number"})
			return
		}
		first = n
	}
	page, err := h.broker.Instances(r.Context(), q.Get("runtimeId"), first, q.Get("after"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}
