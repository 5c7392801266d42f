package authn

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// RevocationChecker tells whether a certificate was revoked. The Connector knows (Connector); the gateway
// asks it through a RevocationCache, which remembers good answers until the Connector announces a
// revocation, and for at most a TTL.
type RevocationChecker interface {
	Revoked(ctx context.Context, serial string) (bool, error)
}

// ClientCertificate authenticates applications and runtimes by the client certificate the Connector
// issued them, presented on the gateway's TLS listener (which verified the chain during the handshake).
type ClientCertificate struct {
	Revocations RevocationChecker
}

// Applies implements Method.
func (m ClientCertificate) Applies(c *gin.Context) bool {
	return c.Request.TLS != nil && len(c.Request.TLS.VerifiedChains) > 0
}

// Authenticate implements Method.
func (m ClientCertificate) Authenticate(c *gin.Context) (identity.Identity, error) {
	cert := c.Request.TLS.VerifiedChains[0][0]
	id, err := IdentityFromCertificate(cert)
	if err != nil {
		return identity.Identity{}, err
	}
	revoked, err := m.Revocations.Revoked(c.Request.Context(), id.CertSerial)
	if err != nil {
		// Fail closed: without an answer the certificate cannot be trusted.
		return identity.Identity{}, unchecked("certificate's revocation", err)
	}
	if revoked {
		return identity.Identity{}, fmt.Errorf("certificate %s was revoked", id.CertSerial)
	}
	return id, nil
}

// IdentityFromCertificate reads the caller from a Connector certificate: CN is the consumer id, OU the
// consumer type (APPLICATION or RUNTIME), O the tenant.
func IdentityFromCertificate(cert *x509.Certificate) (identity.Identity, error) {
	s := cert.Subject
	if len(s.OrganizationalUnit) != 1 || len(s.Organization) != 1 || s.CommonName == "" {
		return identity.Identity{}, fmt.Errorf("certificate subject %q is not one the Connector issues", s.String())
	}
	ct := s.OrganizationalUnit[0]
	scopes, ok := identity.ConsumerScopes(ct)
	if !ok || ct == identity.ConsumerIntegrationSystem {
		return identity.Identity{}, fmt.Errorf("certificate for consumer type %q", ct)
	}
	if err := identity.ValidateTenant(s.Organization[0]); err != nil {
		return identity.Identity{}, fmt.Errorf("certificate tenant: %w", err)
	}
	return identity.Identity{
		Tenant: s.Organization[0], Subject: s.CommonName, ConsumerType: ct, Scopes: scopes,
		CertSerial: identity.SerialHex(cert.SerialNumber),
	}, nil
}

// Invoker reaches another app through the sidecar (*invoke.Client).
type Invoker interface {
	Do(ctx context.Context, appID, httpMethod, method string, header http.Header, body io.Reader) (*http.Response, error)
}

// Connector answers the gateway's questions (is this certificate revoked, do these client credentials
// still exist) by asking the Connector through Dapr service invocation, every time it is asked.
type Connector struct {
	Invoker Invoker
	AppID   string
}

// Revoked implements RevocationChecker.
func (r Connector) Revoked(ctx context.Context, serial string) (bool, error) {
	// The serial goes in the query, not the path: daprd keeps metrics per invoked path, and a path per
	// certificate would be a series per certificate. (The Connector still answers the old path.)
	st, err := r.status(ctx, "certificates/status?serial="+url.QueryEscape(serial))
	if err != nil {
		return false, fmt.Errorf("certificate status: %w", err)
	}
	// A certificate the Connector does not know was not issued by it (or its record is gone): refuse.
	return st.Revoked || !st.Known, nil
}

// Known implements ClientChecker.
func (r Connector) Known(ctx context.Context, clientID string) (bool, error) {
	st, err := r.status(ctx, "clients/"+url.PathEscape(clientID)+"/status")
	if err != nil {
		return false, fmt.Errorf("client status: %w", err)
	}
	return st.Known, nil
}

type status struct {
	Known   bool `json:"known"`
	Revoked bool `json:"revoked"`
}

func (r Connector) status(ctx context.Context, method string) (status, error) {
	resp, err := r.Invoker.Do(ctx, r.AppID, http.MethodGet, method, nil, nil)
	if err != nil {
		return status{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return status{}, fmt.Errorf("connector answered %s", resp.Status)
	}
	var st status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&st); err != nil {
		return status{}, err
	}
	return st, nil
}

// VerifySecret implements SecretChecker: the Connector compares the secret with the hash it keeps.
func (r Connector) VerifySecret(ctx context.Context, clientID, secret string) (ClientOwner, error) {
	body, err := json.Marshal(map[string]string{"clientId": clientID, "clientSecret": secret})
	if err != nil {
		return ClientOwner{}, err
	}
	resp, err := r.Invoker.Do(ctx, r.AppID, http.MethodPost, "client-secrets/verify",
		http.Header{"Content-Type": {"application/json"}}, bytes.NewReader(body))
	if err != nil {
		return ClientOwner{}, fmt.Errorf("client credentials check: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return ClientOwner{}, ErrBadClientSecret
	default:
		return ClientOwner{}, fmt.Errorf("client credentials check: connector answered %s", resp.Status)
	}
	var o ClientOwner
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&o); err != nil {
		return ClientOwner{}, fmt.Errorf("client credentials check: %w", err)
	}
	return o, nil
}
