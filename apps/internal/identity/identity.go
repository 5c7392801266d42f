// Package identity carries the caller's identity from the gateway, which decides it, to the apps behind
// it, which enforce it. It travels between them as HTTP headers on Dapr service invocation; the gateway
// strips these headers from every incoming request so a client cannot forge them.
package identity

import (
	"context"
	"errors"
	"math/big"
	"net/http"
	"regexp"
	"strings"
)

// Header names set by the gateway on forwarded requests.
const (
	HeaderTenant       = "X-Mp-Tenant"
	HeaderSubject      = "X-Mp-Subject"
	HeaderConsumerType = "X-Mp-Consumer-Type"
	HeaderScopes       = "X-Mp-Scopes"
	// HeaderConnectorToken carries a Connector one-time token. The gateway copies it from the client's
	// Connector-Token header untouched: only the Connector can tell whether it is valid, and it is the
	// caller's only credential on the pairing path.
	HeaderConnectorToken = "X-Mp-Connector-Token"
	// HeaderCertSerial carries the serial number of the client certificate the caller authenticated with,
	// formatted by SerialHex, so that the Connector can tell which certificate to renew or revoke.
	HeaderCertSerial = "X-Mp-Cert-Serial"

	headerPrefix = "X-Mp-"
)

// ErrNoTenant means the request carries no tenant; tenant-scoped operations refuse it.
var ErrNoTenant = errors.New("no tenant in request")

// ErrInvalidTenant means the tenant does not match the accepted format.
var ErrInvalidTenant = errors.New("invalid tenant: use 1-64 letters, digits, '-', '_' or '.'")

// Identity is who is calling and on behalf of which tenant.
type Identity struct {
	Tenant       string
	Subject      string
	ConsumerType string // USER, APPLICATION, RUNTIME, INTEGRATION_SYSTEM
	Scopes       []string
	// ConnectorToken is a one-time token presented to the Connector, empty otherwise.
	ConnectorToken string
	// CertSerial is the serial of the client certificate the caller presented (see SerialHex), empty when
	// the caller did not authenticate with a certificate.
	CertSerial string
}

// SerialHex formats a certificate serial number as X-Mp-Cert-Serial carries it: lowercase hexadecimal
// without leading zeros or separators (big.Int.Text(16)).
func SerialHex(serial *big.Int) string {
	if serial == nil {
		return ""
	}
	return serial.Text(16)
}

// Tenants end up inside storage keys, so the alphabet is strict.
var tenantPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidateTenant reports whether t can be used as a tenant id.
func ValidateTenant(t string) error {
	if t == "" {
		return ErrNoTenant
	}
	if !tenantPattern.MatchString(t) {
		return ErrInvalidTenant
	}
	return nil
}

// SetHeaders writes id onto h, replacing any identity headers already there.
func (id Identity) SetHeaders(h http.Header) {
	StripHeaders(h)
	set := func(k, v string) {
		if v != "" {
			h.Set(k, v)
		}
	}
	set(HeaderTenant, id.Tenant)
	set(HeaderSubject, id.Subject)
	set(HeaderConsumerType, id.ConsumerType)
	set(HeaderScopes, strings.Join(id.Scopes, " "))
	set(HeaderConnectorToken, id.ConnectorToken)
	set(HeaderCertSerial, id.CertSerial)
}

// StripHeaders removes every identity header from h.
func StripHeaders(h http.Header) {
	for k := range h {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), headerPrefix) {
			delete(h, k)
		}
	}
}

// FromHeaders reads the identity the gateway put on a request.
func FromHeaders(h http.Header) Identity {
	id := Identity{
		Tenant:       h.Get(HeaderTenant),
		Subject:      h.Get(HeaderSubject),
		ConsumerType: h.Get(HeaderConsumerType),

		ConnectorToken: h.Get(HeaderConnectorToken),
		CertSerial:     h.Get(HeaderCertSerial),
	}
	if s := h.Get(HeaderScopes); s != "" {
		id.Scopes = strings.Fields(s)
	}
	return id
}

type ctxKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity in ctx, if any.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// TenantFrom returns the validated tenant of the caller in ctx.
func TenantFrom(ctx context.Context) (string, error) {
	id, _ := FromContext(ctx)
	if err := ValidateTenant(id.Tenant); err != nil {
		return "", err
	}
	return id.Tenant, nil
}

// Middleware puts the identity from the request headers into the request context. Apps behind the gateway
// wrap their handlers with it.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), FromHeaders(r.Header))))
	})
}
