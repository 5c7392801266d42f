// Package api is the Connector's HTTP surface: the GraphQL API that the gateway forwards to (POST /graphql)
// and the internal endpoints other apps reach by Dapr service invocation. The gateway forwards only
// /graphql, so the internal endpoints are not reachable from outside.
package api

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/google/uuid"

	"github.com/mgmtplane/mgmtplane/apps/connector/graph"
	"github.com/mgmtplane/mgmtplane/apps/connector/graph/generated"
	"github.com/mgmtplane/mgmtplane/apps/connector/oauth"
	"github.com/mgmtplane/mgmtplane/apps/connector/trust"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/gqlserver"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// maxTokenRequest bounds the body of POST /tokens.
const maxTokenRequest = 4 << 10

// Handler returns the Connector's routes:
//
//	POST /graphql                        the Connector API
//	POST /tokens                         {"tenant","consumerID","consumerType"} -> {"token","connectorURL","expiresAt"}
//	POST /owners/revoke                  {"tenant","consumerID","consumerType"} -> {"revoked": n}
//	GET  /ca.pem                         the CA certificate
//	GET  /certificates/status?serial=    {"known":bool,"revoked":bool}
//	GET  /certificates/{serial}/status   the same (the path gateways before the query asked)
//	POST /clients                        {"tenant","consumerID","consumerType"} -> new client credentials with their secret
//	POST /clients/query                  {"owners":[{"tenant","consumerID","consumerType"}...]} -> {"clients":[...]}
//	DELETE /clients/{id}?tenant=&consumerType=   -> the deleted client
//	GET  /clients/{id}/status            {"known":bool}
//	POST /client-secrets/verify          {"clientId","clientSecret"} -> {"tenant","consumerID","consumerType"} or 401
//	POST /oauth/token                    the client credentials grant (RFC 6749 §4.4), public through the gateway
//	GET  /oauth/jwks.json                the key set access tokens verify against
//	GET  /healthz
//
// Every route but /healthz needs a caller assertion addressed to the Connector (package assertion): the
// gateway's for /graphql, /oauth/token and its own questions (CA, key set, certificate and client status),
// and for the owner routes the assertion of the Director's caller, whose tenant must be the one named.
func Handler(log *slog.Logger, svc *trust.Service, clients *oauth.Service, audit gqlserver.AuditPublisher, verify *assertion.Verifier) http.Handler {
	gql := gqlserver.New(generated.NewExecutableSchema(generated.Config{Resolvers: &graph.Resolver{Trust: svc}}),
		log, "connector", gqlserver.DefaultLimits, audit)

	h := &handlers{log: log, svc: svc, clients: clients}
	mux := http.NewServeMux()
	mux.Handle("POST /graphql", gql)
	mux.HandleFunc("POST /tokens", h.issueToken)
	mux.HandleFunc("POST /owners/revoke", h.revokeOwner)
	mux.HandleFunc("GET /ca.pem", h.caPEM)
	mux.HandleFunc("GET /certificates/status", h.status)
	mux.HandleFunc("GET /certificates/{serial}/status", h.status)
	mux.HandleFunc("POST /clients", h.createClient)
	mux.HandleFunc("POST /clients/query", h.queryClients)
	mux.HandleFunc("DELETE /clients/{id}", h.deleteClient)
	mux.HandleFunc("GET /clients/{id}/status", h.clientStatus)
	mux.HandleFunc("POST /client-secrets/verify", h.authenticateClient)
	mux.HandleFunc("POST /oauth/token", h.token)
	mux.HandleFunc("GET /oauth/jwks.json", h.jwks)

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	root.Handle("/", assertion.Middleware(verify, log)(mux))
	return root
}

type handlers struct {
	log     *slog.Logger
	svc     *trust.Service
	clients *oauth.Service
}

// issueToken creates a one-time token; the Director calls it for requestOneTimeTokenForApplication and
// requestOneTimeTokenForRuntime, after checking that the application or runtime exists in the tenant.
func (h *handlers) issueToken(w http.ResponseWriter, r *http.Request) {
	in, ok := h.decodeOwner(w, r)
	if !ok {
		return
	}
	tok, err := h.svc.IssueToken(r.Context(), in)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tok)
}

// revokeOwner revokes every certificate and deletes every client credential of an application, runtime or
// integration system; the Director calls it when one is unregistered, so that its credentials stop
// working with it. Integration systems hold no certificates.
func (h *handlers) revokeOwner(w http.ResponseWriter, r *http.Request) {
	in, ok := h.decodeOwner(w, r)
	if !ok {
		return
	}
	revoked := 0
	if in.ConsumerType != identity.ConsumerIntegrationSystem {
		n, err := h.svc.RevokeOwner(r.Context(), in)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		revoked = n
	} else if err := in.ValidateAs(identity.ConsumerIntegrationSystem); err != nil {
		h.fail(w, r, err)
		return
	}
	deleted, err := h.clients.DeleteConsumer(r.Context(), in.ConsumerType, in.ConsumerID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"revoked": revoked, "deletedClients": deleted})
}

// decodeOwner reads the {"tenant","consumerID","consumerType"} body of the internal endpoints, answering
// 400 itself when it cannot.
func (h *handlers) decodeOwner(w http.ResponseWriter, r *http.Request) (trust.Owner, bool) {
	var in trust.Owner
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxTokenRequest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		h.fail(w, r, apperr.Invalid("body: want {\"tenant\",\"consumerID\",\"consumerType\"}: %v", err))
		return trust.Owner{}, false
	}
	if !h.sameTenant(w, r, in.Tenant) {
		return trust.Owner{}, false
	}
	return in, true
}

// sameTenant answers 403 itself unless tenant is the tenant of the caller the request's assertion names:
// the Director acts for its caller, and only in that caller's tenant.
func (h *handlers) sameTenant(w http.ResponseWriter, r *http.Request, tenant string) bool {
	caller, _ := identity.FromContext(r.Context())
	if caller.Tenant == "" || caller.Tenant != tenant {
		h.fail(w, r, apperr.New(apperr.CodeForbidden, "the caller may act only in its own tenant"))
		return false
	}
	return true
}

func (h *handlers) caPEM(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(h.svc.CACertPEM())
}

// status answers the gateway, which asks about a client certificate it is shown unless it remembers a
// good answer (until certificate.revoked, or its TTL). The serial comes in the query: daprd keeps
// metrics per invoked path, and a path per certificate would be a series per certificate.
func (h *handlers) status(w http.ResponseWriter, r *http.Request) {
	serial := r.PathValue("serial")
	if serial == "" {
		serial = r.URL.Query().Get("serial")
	}
	st, err := h.svc.Status(r.Context(), serial)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// errorBody is the JSON of a refused internal request.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	ErrorID string `json:"errorId,omitempty"`
}

// fail answers with the error's code; errors without one are logged here, once, and answered with an id.
func (h *handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	if msg, ok := apperr.Public(err); ok {
		code := apperr.CodeOf(err)
		writeJSON(w, statusOf(code), errorBody{Code: string(code), Message: msg})
		return
	}
	id := uuid.NewString()
	h.log.ErrorContext(r.Context(), "request failed", "error_id", id, "path", r.URL.Path, "err", err)
	writeJSON(w, http.StatusInternalServerError, errorBody{Code: string(apperr.CodeInternal), Message: "internal error, id " + id, ErrorID: id})
}

func statusOf(c apperr.Code) int {
	if status, ok := apperr.HTTPStatus(c); ok {
		return status
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
