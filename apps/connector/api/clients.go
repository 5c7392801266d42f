package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/mgmtplane/mgmtplane/apps/connector/oauth"
	"github.com/mgmtplane/mgmtplane/apps/connector/trust"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// maxOwnersQuery bounds POST /clients/query: one GraphQL page of owners.
const maxOwnersQuery = 500

// createClient makes client credentials; the Director calls it for requestClientCredentialsFor*, after
// checking that the owner exists in the tenant.
func (h *handlers) createClient(w http.ResponseWriter, r *http.Request) {
	in, ok := h.decodeOwner(w, r)
	if !ok {
		return
	}
	c, err := h.clients.Create(r.Context(), in)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

// queryClients lists the clients of many owners in one call: the Director asks for the `auths` of a whole
// page of applications or runtimes at once.
func (h *handlers) queryClients(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Owners []trust.Owner `json:"owners"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxOwnersQuery*256))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		h.fail(w, r, apperr.Invalid("body: want {\"owners\":[{\"tenant\",\"consumerID\",\"consumerType\"}]}: %v", err))
		return
	}
	if len(in.Owners) > maxOwnersQuery {
		h.fail(w, r, apperr.Invalid("owners: at most %d", maxOwnersQuery))
		return
	}
	for _, o := range in.Owners {
		if !h.sameTenant(w, r, o.Tenant) {
			return
		}
	}
	cs, err := h.clients.List(r.Context(), in.Owners)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if cs == nil {
		cs = []oauth.Client{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"clients": cs})
}

func (h *handlers) deleteClient(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !h.sameTenant(w, r, q.Get("tenant")) {
		return
	}
	c, err := h.clients.Delete(r.Context(), q.Get("tenant"), q.Get("consumerType"), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// clientStatus answers the gateway, which asks for the client of every access token it is shown.
func (h *handlers) clientStatus(w http.ResponseWriter, r *http.Request) {
	known, err := h.clients.Known(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"known": known})
}

// authenticateClient answers the gateway, which checks the client id and secret of every request made
// with HTTP Basic (the System Broker's platforms): whose credentials they are, or 401. Only the gateway's
// own identity may ask; a forwarded caller never reaches this route.
func (h *handlers) authenticateClient(w http.ResponseWriter, r *http.Request) {
	if id, _ := identity.FromContext(r.Context()); id.ConsumerType != identity.ConsumerService {
		h.fail(w, r, apperr.New(apperr.CodeForbidden, "only the gateway checks client secrets"))
		return
	}
	var in struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&in); err != nil {
		h.fail(w, r, apperr.Invalid("body: want {\"clientId\", \"clientSecret\"}"))
		return
	}
	owner, err := h.clients.Authenticate(r.Context(), in.ClientID, in.ClientSecret)
	switch {
	case errors.Is(err, oauth.ErrInvalidClient):
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid client credentials"})
	case err != nil:
		h.fail(w, r, err)
	default:
		writeJSON(w, http.StatusOK, owner)
	}
}

func (h *handlers) jwks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.clients.JWKS())
}

// oauthError is an RFC 6749 §5.2 error response.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// token is the token endpoint: grant_type=client_credentials with the client authenticated by HTTP Basic
// (as RFC 6749 recommends) or by client_id and client_secret in the form.
func (h *handlers) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "send an application/x-www-form-urlencoded body"})
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, oauthError{"unsupported_grant_type", "only grant_type=client_credentials is supported"})
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id == "" || secret == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="mgmtplane"`)
		writeJSON(w, http.StatusUnauthorized, oauthError{"invalid_client", "client authentication is required"})
		return
	}
	tok, err := h.clients.Exchange(r.Context(), id, secret)
	switch {
	case errors.Is(err, oauth.ErrInvalidClient):
		w.Header().Set("WWW-Authenticate", `Basic realm="mgmtplane"`)
		writeJSON(w, http.StatusUnauthorized, oauthError{"invalid_client", err.Error()})
	case err != nil:
		h.fail(w, r, err)
	default:
		writeJSON(w, http.StatusOK, tok)
	}
}
