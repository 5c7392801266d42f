package authn

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// ClientChecker tells whether OAuth client credentials still exist. The Connector knows; the gateway asks
// it on every request, so deleting credentials takes effect at once, not when their tokens expire.
type ClientChecker interface {
	Known(ctx context.Context, clientID string) (bool, error)
}

// ClientCredentials authenticates the access tokens the Connector issues for client credentials (the
// Compass requestClientCredentialsFor* mutations): bearer tokens whose issuer is the Connector's. Their
// scopes come from the consumer type, exactly as for a certificate, never from the token.
type ClientCredentials struct {
	// Verifier checks the tokens against the Connector's key set and issuer.
	Verifier *Verifier
	Clients  ClientChecker
}

// Applies implements Method: the token claims the Connector as issuer. Nothing is trusted yet; a token
// that only claims it fails Authenticate.
func (m ClientCredentials) Applies(c *gin.Context) bool {
	raw, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	return ok && claimsIssuer(strings.TrimSpace(raw), m.Verifier.Issuer)
}

// claimsIssuer reports whether the compact JWT raw claims issuer as its iss, unverified. Only the payload
// is decoded, not the header and signature: every bearer request asks, and most tokens are not the
// Connector's.
func claimsIssuer(raw, issuer string) bool {
	_, rest, ok := strings.Cut(raw, ".")
	if !ok {
		return issuer == ""
	}
	payload, _, ok := strings.Cut(rest, ".")
	if !ok {
		return issuer == ""
	}
	data, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return issuer == ""
	}
	// Most tokens are the identity provider's: a payload that does not hold issuer's bytes cannot claim
	// it, unless JSON escapes (a backslash) or invalid UTF-8 (decoded as U+FFFD) could spell it otherwise,
	// and is answered without decoding the JSON, which was most of what this costs.
	if issuer != "" && !bytes.Contains(data, []byte(issuer)) && bytes.IndexByte(data, '\\') < 0 && utf8.Valid(data) {
		return false
	}
	return claimedIssuer(data) == issuer
}

// claimedIssuer returns the iss of a JWT's decoded payload, or "" for anything else.
func claimedIssuer(data []byte) string {
	var claims struct {
		Issuer string `json:"iss"`
	}
	if json.Unmarshal(data, &claims) != nil {
		return ""
	}
	return claims.Issuer
}

// Authenticate implements Method.
func (m ClientCredentials) Authenticate(c *gin.Context) (identity.Identity, error) {
	raw, _ := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	ctx := c.Request.Context()
	id, claims, err := m.Verifier.verify(ctx, strings.TrimSpace(raw))
	if err != nil {
		return identity.Identity{}, err
	}
	if claims.ClientID == "" || id.Subject == "" {
		return identity.Identity{}, fmt.Errorf("%w: no client_id or sub", ErrBadToken)
	}
	known, err := m.Clients.Known(ctx, claims.ClientID)
	if err != nil {
		// Fail closed: without an answer the credentials cannot be trusted.
		return identity.Identity{}, unchecked("client credentials", err)
	}
	if !known {
		return identity.Identity{}, fmt.Errorf("the client credentials %s were deleted", claims.ClientID)
	}
	scopes, _ := identity.ConsumerScopes(id.ConsumerType)
	id.Scopes = scopes
	return id, nil
}
