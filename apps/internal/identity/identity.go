// Package identity is the caller's identity as the gateway decides it and the apps behind it enforce it:
// who is calling, for which tenant, with which scopes. It travels from the gateway to the apps as a signed
// assertion (package assertion), never as plain headers; inside an app it lives in the request context.
package identity

import (
	"context"
	"errors"
	"math/big"
	"net/http"
	"regexp"
	"strings"
)

// headerPrefix marks the headers that carry identity inside the mesh (the caller assertion, see package
// assertion). The gateway strips every such header from incoming requests.
const headerPrefix = "X-Mp-"

// ErrNoTenant means the request carries no tenant; tenant-scoped operations refuse it.
var ErrNoTenant = errors.New("no tenant in request")

// ErrInvalidTenant means the tenant does not match the accepted format.
var ErrInvalidTenant = errors.New("invalid tenant: use 1-64 letters, digits, '-', '_' or '.'")

// Identity is who is calling and on behalf of which tenant.
type Identity struct {
	Tenant       string
	Subject      string
	ConsumerType string // USER, APPLICATION, RUNTIME, INTEGRATION_SYSTEM, SERVICE
	Scopes       []string
	// ConnectorToken is a one-time token presented to the Connector, empty otherwise. The gateway passes it
	// on untouched: only the Connector can tell whether it is valid.
	ConnectorToken string
	// CertSerial is the serial of the client certificate the caller presented (see SerialHex), empty when
	// the caller did not authenticate with a certificate.
	CertSerial string
}

// SerialHex formats a certificate serial number as Identity.CertSerial carries it: lowercase hexadecimal
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

// StripHeaders removes every identity header from h.
func StripHeaders(h http.Header) {
	for k := range h {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), headerPrefix) {
			delete(h, k)
		}
	}
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
