package authn

import (
	"context"
	"errors"
	"fmt"

	"github.com/gin-gonic/gin"

	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// ClientOwner is whose client credentials a client id and secret are.
type ClientOwner struct {
	Tenant       string `json:"tenant"`
	ConsumerID   string `json:"consumerID"`
	ConsumerType string `json:"consumerType"`
}

// SecretChecker checks a client id and secret; the Connector, which keeps the secrets' hashes, knows.
type SecretChecker interface {
	VerifySecret(ctx context.Context, clientID, secret string) (ClientOwner, error)
}

// ErrBadClientSecret means the client id is unknown or the secret wrong; which, the caller is not told.
var ErrBadClientSecret = errors.New("invalid client credentials")

// ClientSecret authenticates HTTP Basic with OAuth client credentials (client id as user name, client
// secret as password) — what Open Service Broker platforms send: `cf create-service-broker` and Service
// Catalog's ClusterServiceBroker know only Basic. The Connector checks the pair on every request, so
// deleting the credentials takes effect at once, as for their access tokens. Scopes come from the
// consumer type.
type ClientSecret struct {
	Clients SecretChecker
}

// Applies implements Method.
func (m ClientSecret) Applies(c *gin.Context) bool {
	_, _, ok := c.Request.BasicAuth()
	return ok
}

// Authenticate implements Method.
func (m ClientSecret) Authenticate(c *gin.Context) (identity.Identity, error) {
	id, secret, _ := c.Request.BasicAuth()
	if id == "" || secret == "" {
		return identity.Identity{}, ErrBadClientSecret
	}
	o, err := m.Clients.VerifySecret(c.Request.Context(), id, secret)
	if errors.Is(err, ErrBadClientSecret) {
		return identity.Identity{}, err
	}
	if err != nil {
		// Fail closed: without an answer the credentials cannot be trusted.
		return identity.Identity{}, unchecked("client credentials", err)
	}
	scopes, ok := identity.ConsumerScopes(o.ConsumerType)
	if !ok || o.Tenant == "" || o.ConsumerID == "" {
		return identity.Identity{}, fmt.Errorf("client credentials of an unknown kind of consumer %q", o.ConsumerType)
	}
	return identity.Identity{Tenant: o.Tenant, Subject: o.ConsumerID, ConsumerType: o.ConsumerType, Scopes: scopes}, nil
}
