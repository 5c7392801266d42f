// Package authn decides who is calling the gateway. Each way of authenticating is a gin middleware that,
// on success, stores an identity.Identity in the gin context for the forwarding handlers to pass on.
package authn

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

const identityKey = "mp.identity"

// HeaderTenant is the development header that names the caller's tenant until real authentication is on.
const HeaderTenant = "Tenant"

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

// TenantHeader trusts the Tenant request header. It is meant for local development only: any client can
// claim any tenant. The caller gets every scope.
func TenantHeader() gin.HandlerFunc {
	return func(c *gin.Context) {
		tenant := c.GetHeader(HeaderTenant)
		if err := identity.ValidateTenant(tenant); err != nil {
			status, code := http.StatusBadRequest, "INVALID_TENANT"
			if errors.Is(err, identity.ErrNoTenant) {
				status, code = http.StatusUnauthorized, "UNAUTHENTICATED"
				err = errors.New("missing Tenant header")
			}
			Abort(c, status, code, err.Error())
			return
		}
		SetIdentity(c, identity.Identity{Tenant: tenant, Subject: "anonymous", ConsumerType: "USER", Scopes: []string{"*"}})
		c.Next()
	}
}

// ErrorBody is the JSON body of every error the gateway itself answers with.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Abort ends the request with status and a JSON error body.
func Abort(c *gin.Context, status int, code, message string) {
	var b ErrorBody
	b.Error.Code, b.Error.Message = code, message
	c.AbortWithStatusJSON(status, b)
}
