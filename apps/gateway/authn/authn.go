// Package authn decides who is calling the gateway. Each way of authenticating is a gin middleware that,
// on success, stores an identity.Identity in the gin context for the forwarding handlers to pass on.
package authn

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

const identityKey = "mp.identity"

// Identity returns the identity an authentication middleware stored in c.
func Identity(c *gin.Context) (identity.Identity, bool) {
	v, ok := c.Get(identityKey)
	if !ok {
		return identity.Identity{}, false
	}
	id, ok := v.(identity.Identity)
	return id, ok
}

// SetIdentity stores id in c.
func SetIdentity(c *gin.Context, id identity.Identity) { c.Set(identityKey, id) }

// Method is one way of authenticating a caller.
type Method interface {
	// Applies reports whether the request carries this method's credentials.
	Applies(c *gin.Context) bool
	// Authenticate checks them and returns the caller.
	Authenticate(c *gin.Context) (identity.Identity, error)
}

// Authenticate authenticates with the first method whose credentials the request carries. A request with
// none gets 401; so does one whose credentials do not check out.
func Authenticate(methods ...Method) gin.HandlerFunc {
	return func(c *gin.Context) {
		for _, m := range methods {
			if !m.Applies(c) {
				continue
			}
			id, err := m.Authenticate(c)
			if err != nil {
				status, code := http.StatusUnauthorized, "UNAUTHENTICATED"
				if errors.Is(err, ErrForbidden) {
					status, code = http.StatusForbidden, "FORBIDDEN"
				}
				Abort(c, status, code, err.Error())
				return
			}
			SetIdentity(c, id)
			c.Next()
			return
		}
		Abort(c, http.StatusUnauthorized, "UNAUTHENTICATED", "no credentials: send a bearer token or a client certificate")
	}
}

// ErrForbidden marks credentials that are valid but not for this request.
var ErrForbidden = errors.New("forbidden")

// BearerToken authenticates `Authorization: Bearer <JWT>`.
type BearerToken struct{ Verifier *Verifier }

// Applies implements Method.
func (b BearerToken) Applies(c *gin.Context) bool { return c.GetHeader("Authorization") != "" }

// Authenticate implements Method.
func (b BearerToken) Authenticate(c *gin.Context) (identity.Identity, error) {
	raw, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(raw) == "" {
		return identity.Identity{}, ErrNoToken
	}
	return b.Verifier.Verify(c.Request.Context(), strings.TrimSpace(raw))
}

// ErrorBody is the JSON body of every error the gateway itself answers with. RequestID is the request's
// X-Request-Id, under which the gateway logged what happened.
type ErrorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"requestId,omitempty"`
	} `json:"error"`
}

// Abort ends the request with status and a JSON error body.
func Abort(c *gin.Context, status int, code, message string) {
	var b ErrorBody
	b.Error.Code, b.Error.Message, b.Error.RequestID = code, message, c.Request.Header.Get("X-Request-Id")
	c.AbortWithStatusJSON(status, b)
}
