// Package trust is the Connector's domain: it hands out one-time tokens to applications and runtimes,
// trades a token (or a valid client certificate) for a certificate signed by the CA, and keeps the record
// of every certificate issued and revoked. Tokens and certificate records live in the Registry.
//
// Who a certificate is for is decided here, never by the caller: the owner comes from the token or from
// the certificate the caller authenticated with, and the certificate subject is derived from the owner:
//
//	CN=<consumerID>,OU=<consumerType>,O=<tenant>
//
// (RFC 4514 order, as crypto/x509/pkix prints it). A CSR must ask for exactly these three attributes, in any
// order and string encoding, and nothing else.
package trust

import (
	"context"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/connector/ca"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Store is the part of the Registry the Connector needs.
type Store interface {
	registry.Lister
	Get(ctx context.Context, s registry.Scope, id string, out any) error
	Mutate(ctx context.Context, s registry.Scope, id, writeID string, fn registry.MutateFunc) error
}

// Config holds the Connector's policy and the URLs it hands to clients.
type Config struct {
	CertValidity        time.Duration
	TokenTTLApplication time.Duration
	TokenTTLRuntime     time.Duration
	// ConnectorURL is where token holders call the Connector (the gateway's /connector/graphql).
	ConnectorURL string
	// DirectorURL and SecureConnectorURL are what a paired client calls next, with its certificate.
	DirectorURL        string
	SecureConnectorURL string
}

// KeyAlgorithm is the key type clients are told to generate. RSA keys of 2048 bits or more and Ed25519
// are accepted as well.
const KeyAlgorithm = "ecdsa-p256"

// Service is the Connector's domain service.
type Service struct {
	log   *slog.Logger
	store Store
	ca    *ca.Authority
	cfg   Config
	now   func() time.Time
}

// NewService returns the service. now is the clock (time.Now outside tests). Every token issued and
// every certificate issued or revoked is logged to log: they are the Connector's security events.
func NewService(log *slog.Logger, store Store, authority *ca.Authority, cfg Config, now func() time.Time) *Service {
	return &Service{log: log, store: store, ca: authority, cfg: cfg, now: now}
}

// CACertPEM returns the CA certificate as PEM.
func (s *Service) CACertPEM() []byte { return s.ca.CertPEM() }

// Owner is whom a token or a certificate belongs to.
type Owner struct {
	Tenant       string `json:"tenant"`
	ConsumerID   string `json:"consumerID"`
	ConsumerType string `json:"consumerType"`
}

// Consumer ids become the certificate's common name, whose X.509 upper bound is 64 characters; the strict
// alphabet keeps the subject string unambiguous without escaping.
var consumerIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate checks that o can own a certificate: a valid tenant, a plain consumer id, and an application
// or a runtime (other consumers authenticate with tokens, not certificates).
func (o Owner) Validate() error {
	return o.ValidateAs(identity.ConsumerApplication, identity.ConsumerRuntime)
}

// ValidateAs checks that o has a valid tenant, a plain consumer id and one of the consumer types.
func (o Owner) ValidateAs(consumerTypes ...string) error {
	if err := identity.ValidateTenant(o.Tenant); err != nil {
		return apperr.Invalid("tenant: %v", err)
	}
	if !consumerIDPattern.MatchString(o.ConsumerID) {
		return apperr.Invalid("consumerID: use 1-64 letters, digits, '-', '_' or '.'")
	}
	if !slices.Contains(consumerTypes, o.ConsumerType) {
		return apperr.Invalid("consumerType: must be one of %s", strings.Join(consumerTypes, ", "))
	}
	return nil
}

// Subject is the certificate subject of the owner.
func (o Owner) Subject() pkix.Name {
	return pkix.Name{CommonName: o.ConsumerID, OrganizationalUnit: []string{o.ConsumerType}, Organization: []string{o.Tenant}}
}

// Token is a one-time token and where to use it.
type Token struct {
	Token        string    `json:"token"`
	ConnectorURL string    `json:"connectorURL"`
	ExpiresAt    time.Time `json:"expiresAt"`
}

// Configuration is what a client learns before it sends its CSR.
type Configuration struct {
	Token                         *Token
	CertificateSigningRequestInfo *CertificateSigningRequestInfo
	ManagementPlaneInfo           *ManagementPlaneInfo
}

// CertificateSigningRequestInfo tells the client what to put in its CSR.
type CertificateSigningRequestInfo struct {
	Subject      string
	KeyAlgorithm string
}

// ManagementPlaneInfo tells the client where to go once it holds a certificate.
type ManagementPlaneInfo struct {
	DirectorURL                    string
	CertificateSecuredConnectorURL string
}

// CertificationResult is a signed certificate; every field is base64 of PEM.
type CertificationResult struct {
	CertificateChain  string // the client certificate followed by the CA certificate
	CACertificate     string
	ClientCertificate string
}

// Configuration consumes the caller's one-time token, or checks its client certificate, and returns a
// fresh one-time token for the same owner together with the subject its CSR must carry.
func (s *Service) Configuration(ctx context.Context, id identity.Identity) (*Configuration, error) {
	var (
		owner Owner
		err   error
	)
	if id.ConnectorToken != "" {
		owner, err = s.consumeToken(ctx, id.ConnectorToken)
	} else {
		owner, _, err = s.certOwner(ctx, id)
	}
	if err != nil {
		return nil, err
	}
	tok, err := s.IssueToken(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	return &Configuration{
		Token: tok,
		CertificateSigningRequestInfo: &CertificateSigningRequestInfo{
			Subject: owner.Subject().String(), KeyAlgorithm: KeyAlgorithm,
		},
		ManagementPlaneInfo: &ManagementPlaneInfo{
			DirectorURL: s.cfg.DirectorURL, CertificateSecuredConnectorURL: s.cfg.SecureConnectorURL,
		},
	}, nil
}
