package trust

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/connector/ca"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Certificates are looked up by serial alone (the gateway asks for the status of each one it sees), so
// their records live outside tenant scopes too. Serials are random 128-bit numbers: they do not collide.
var certScope = registry.GlobalScope("certificate")

// certRecord is what is kept about each issued certificate.
type certRecord struct {
	Serial    string     `json:"serial"`
	Owner     Owner      `json:"owner"`
	IssuedAt  time.Time  `json:"issuedAt"`
	NotAfter  time.Time  `json:"notAfter"`
	Revoked   bool       `json:"revoked,omitempty"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
}

// ownerIndex lists the certificates of one owner, for revoking them all when the owner goes away. Tenants
// and consumer ids cannot contain ':'.
func ownerIndex(o Owner) string {
	return "owner:" + o.Tenant + ":" + o.ConsumerType + ":" + o.ConsumerID
}

var errNoCredential = apperr.New(apperr.CodeUnauthenticated,
	"present a one-time token (Connector-Token header) or a client certificate issued by the Connector")

// certOwner returns the owner of the client certificate the caller authenticated with, after checking that
// the Connector issued it to exactly this identity and that it is neither revoked nor expired.
func (s *Service) certOwner(ctx context.Context, id identity.Identity) (Owner, *certRecord, error) {
	if id.CertSerial == "" || (id.ConsumerType != identity.ConsumerApplication && id.ConsumerType != identity.ConsumerRuntime) {
		return Owner{}, nil, errNoCredential
	}
	o := Owner{Tenant: id.Tenant, ConsumerID: id.Subject, ConsumerType: id.ConsumerType}
	if err := o.Validate(); err != nil {
		return Owner{}, nil, errNoCredential
	}
	serial, err := normalizeSerial(id.CertSerial)
	if err != nil {
		return Owner{}, nil, errNoCredential
	}
	var rec certRecord
	if err := s.store.Get(ctx, certScope, serial, &rec); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return Owner{}, nil, apperr.New(apperr.CodeForbidden, "the client certificate was not issued by this Connector")
		}
		return Owner{}, nil, fmt.Errorf("read certificate %s: %w", serial, err)
	}
	switch {
	case rec.Owner != o:
		return Owner{}, nil, apperr.New(apperr.CodeForbidden, "the client certificate belongs to someone else")
	case rec.Revoked:
		return Owner{}, nil, apperr.New(apperr.CodeForbidden, "the client certificate is revoked")
	case !s.now().Before(rec.NotAfter):
		return Owner{}, nil, apperr.New(apperr.CodeForbidden, "the client certificate has expired")
	}
	return o, &rec, nil
}

// SignCSR signs the caller's CSR. The caller is authorized by a one-time token, which the signing uses up,
// or by its current client certificate (renewal; the old certificate stays valid until it expires or is
// revoked). A CSR that does not parse, whose signature does not verify or that asks for any other subject
// than the caller's is refused, the token is left unused and nothing is stored.
func (s *Service) SignCSR(ctx context.Context, id identity.Identity, csrText string) (*CertificationResult, error) {
	var (
		owner Owner
		err   error
	)
	byToken := id.ConnectorToken != ""
	if byToken {
		owner, err = s.peekToken(ctx, id.ConnectorToken)
	} else {
		owner, _, err = s.certOwner(ctx, id)
	}
	if err != nil {
		return nil, err
	}
	csr, err := parseCSR(csrText, owner)
	if err != nil {
		return nil, err
	}
	if byToken {
		// Only now is the token used up, atomically: of two concurrent requests with it, one gets here.
		used, err := s.consumeToken(ctx, id.ConnectorToken)
		if err != nil {
			return nil, err
		}
		if used != owner {
			return nil, ErrInvalidToken
		}
	}

	now := s.now().UTC()
	cert, err := s.ca.SignClient(csr.PublicKey, owner.Subject(), now, now.Add(s.cfg.CertValidity))
	if err != nil {
		return nil, fmt.Errorf("sign csr of %s %s: %w", owner.ConsumerType, owner.ConsumerID, err)
	}
	serial := identity.SerialHex(cert.SerialNumber)
	rec := certRecord{Serial: serial, Owner: owner, IssuedAt: now, NotAfter: cert.NotAfter.UTC()}
	// Recorded before it is handed out: a certificate the Connector does not know is one it cannot revoke.
	err = s.store.Mutate(ctx, certScope, serial, "", func(cur []byte) (registry.Change, error) {
		if cur != nil {
			return registry.Change{}, fmt.Errorf("certificate serial %s: %w", serial, registry.ErrAlreadyExists)
		}
		return registry.Change{Data: rec, Indexes: []string{ownerIndex(owner)}}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("record certificate %s: %w", serial, err)
	}

	s.log.InfoContext(ctx, "certificate issued", "tenant", owner.Tenant, "consumer_type", owner.ConsumerType,
		"consumer_id", owner.ConsumerID, "serial", serial, "not_after", rec.NotAfter, "renewal", !byToken)

	certPEM, caPEM := ca.EncodeCert(cert), s.ca.CertPEM()
	b64 := base64.StdEncoding.EncodeToString
	return &CertificationResult{
		CertificateChain:  b64(append(append([]byte(nil), certPEM...), caPEM...)),
		CACertificate:     b64(caPEM),
		ClientCertificate: b64(certPEM),
	}, nil
}

// TopicCertificateRevoked announces that a certificate stopped being good: every gateway replica forgets
// that it was (the gateway's RevocationCache), so the revocation takes effect as soon as the event arrives.
const TopicCertificateRevoked = "certificate.revoked"

// RevokedEvent is the data of a certificate.revoked event.
type RevokedEvent struct {
	Serial       string    `json:"serial"`
	Tenant       string    `json:"tenant"`
	ConsumerType string    `json:"consumerType"`
	ConsumerID   string    `json:"consumerID"`
	RevokedAt    time.Time `json:"revokedAt"`
}

// Revoke revokes the client certificate the caller authenticated with.
func (s *Service) Revoke(ctx context.Context, id identity.Identity) error {
	owner, rec, err := s.certOwner(ctx, id)
	if err != nil {
		return err
	}
	return s.revokeSerial(ctx, owner, rec.Serial)
}

// revokeSerial marks the certificate revoked, and announces it (certificate.revoked) in the same write:
// the gateways remember good certificates, so a revocation that went unannounced would be believed only
// when their memory lapses. Every revocation goes through here.
func (s *Service) revokeSerial(ctx context.Context, owner Owner, serial string) error {
	now := s.now().UTC()
	err := s.store.Mutate(ctx, certScope, serial, "", func(cur []byte) (registry.Change, error) {
		if cur == nil {
			return registry.Change{}, apperr.NotFound("certificate", serial)
		}
		var r certRecord
		if err := json.Unmarshal(cur, &r); err != nil {
			return registry.Change{}, fmt.Errorf("decode certificate: %w", err)
		}
		var events []registry.Event
		if !r.Revoked {
			// Once: a certificate already revoked was announced with its revocation.
			r.Revoked, r.RevokedAt = true, &now
			events = []registry.Event{{Topic: TopicCertificateRevoked, Data: RevokedEvent{
				Serial: r.Serial, Tenant: r.Owner.Tenant, ConsumerType: r.Owner.ConsumerType,
				ConsumerID: r.Owner.ConsumerID, RevokedAt: now,
			}}}
		}
		return registry.Change{Data: r, Indexes: []string{ownerIndex(owner)}, Events: events}, nil
	})
	if err != nil {
		return fmt.Errorf("revoke certificate %s: %w", serial, err)
	}
	s.log.InfoContext(ctx, "certificate revoked", "tenant", owner.Tenant, "consumer_type", owner.ConsumerType,
		"consumer_id", owner.ConsumerID, "serial", serial)
	return nil
}

// RevokeOwner revokes every certificate issued to owner, for an application or runtime that was
// unregistered, and returns how many it revoked.
func (s *Service) RevokeOwner(ctx context.Context, owner Owner) (int, error) {
	if err := owner.Validate(); err != nil {
		return 0, err
	}
	n, after := 0, ""
	for {
		recs, p, err := registry.ListAs[certRecord](ctx, s.store, certScope, ownerIndex(owner), 200, after)
		if err != nil {
			return n, fmt.Errorf("certificates of %s %s: %w", owner.ConsumerType, owner.ConsumerID, err)
		}
		for _, r := range recs {
			if r.Revoked {
				continue
			}
			if err := s.revokeSerial(ctx, owner, r.Serial); err != nil {
				return n, err
			}
			n++
		}
		if !p.HasNextPage {
			return n, nil
		}
		after = p.EndCursor
	}
}

// Status says whether the Connector issued the certificate with this serial and whether it is revoked.
type Status struct {
	Known   bool `json:"known"`
	Revoked bool `json:"revoked"`
}

// Status returns the status of the certificate with the given serial (hexadecimal, see identity.SerialHex).
func (s *Service) Status(ctx context.Context, serial string) (Status, error) {
	key, err := normalizeSerial(serial)
	if err != nil {
		return Status{}, err
	}
	var rec certRecord
	if err := s.store.Get(ctx, certScope, key, &rec); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return Status{}, nil
		}
		return Status{}, fmt.Errorf("certificate status %s: %w", key, err)
	}
	return Status{Known: true, Revoked: rec.Revoked}, nil
}

// normalizeSerial accepts a serial in hexadecimal, in either case and with or without ':' separators and
// leading zeros, and returns it as identity.SerialHex formats it.
func normalizeSerial(serial string) (string, error) {
	h := strings.ReplaceAll(strings.TrimSpace(serial), ":", "")
	if h == "" || len(h) > 40 { // X.509 serials have at most 20 octets
		return "", apperr.Invalid("certificate serial: want up to 40 hexadecimal digits")
	}
	n, ok := new(big.Int).SetString(h, 16)
	if !ok || n.Sign() <= 0 {
		return "", apperr.Invalid("certificate serial: want a positive hexadecimal number")
	}
	return identity.SerialHex(n), nil
}
