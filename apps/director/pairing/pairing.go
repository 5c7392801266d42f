// Package pairing issues the one-time tokens with which applications and runtimes pair with the management
// plane. The Connector owns the tokens; the Director checks that the application or runtime exists in the
// caller's tenant and asks the Connector for one through Dapr service invocation.
package pairing

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// Invoker reaches the Connector through the sidecar (*invoke.Client).
type Invoker interface {
	Do(ctx context.Context, appID, httpMethod, method string, header http.Header, body io.Reader) (*http.Response, error)
}

// Token is a one-time token as the Connector issues it.
type Token struct {
	Token        string `json:"token"`
	ConnectorURL string `json:"connectorURL"`
	ExpiresAt    string `json:"expiresAt"`
}

// Raw is the pairing data in one JSON document, handed out as `raw` / `rawEncoded`.
func (t Token) Raw() (raw, encoded string) {
	b, _ := json.Marshal(map[string]string{"token": t.Token, "connectorURL": t.ConnectorURL})
	return string(b), base64.StdEncoding.EncodeToString(b)
}

// Service requests tokens from the Connector.
type Service struct {
	inv       Invoker
	connector string
}

// NewService returns a service calling the Connector app connectorAppID.
func NewService(inv Invoker, connectorAppID string) *Service {
	return &Service{inv: inv, connector: connectorAppID}
}

// RevokeAll has the Connector revoke every certificate of consumerID in the caller's tenant: an
// unregistered application or runtime must not keep working with the certificates it paired with.
func (s *Service) RevokeAll(ctx context.Context, consumerType, consumerID string) error {
	tenant, err := identity.TenantFrom(ctx)
	if err != nil {
		return apperr.New(apperr.CodeUnauthenticated, "%v", err)
	}
	body, _ := json.Marshal(map[string]string{"tenant": tenant, "consumerID": consumerID, "consumerType": consumerType})
	resp, err := s.inv.Do(ctx, s.connector, http.MethodPost, "owners/revoke", http.Header{"Content-Type": {"application/json"}}, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("revoke certificates of %s: %w", consumerID, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("revoke certificates of %s: connector answered %s: %s", consumerID, resp.Status, raw)
	}
	return nil
}

// Issue asks the Connector for a token for consumerID of consumerType in the caller's tenant. The caller
// must have checked that the consumer exists.
func (s *Service) Issue(ctx context.Context, consumerType, consumerID string) (Token, error) {
	tenant, err := identity.TenantFrom(ctx)
	if err != nil {
		return Token{}, apperr.New(apperr.CodeUnauthenticated, "%v", err)
	}
	body, _ := json.Marshal(map[string]string{"tenant": tenant, "consumerID": consumerID, "consumerType": consumerType})
	resp, err := s.inv.Do(ctx, s.connector, http.MethodPost, "tokens", http.Header{"Content-Type": {"application/json"}}, bytes.NewReader(body))
	if err != nil {
		return Token{}, apperr.New(apperr.CodeUnavailable, "the Connector is not reachable: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return Token{}, fmt.Errorf("connector answered %s: %s", resp.Status, raw)
	}
	var tok Token
	if err := json.Unmarshal(raw, &tok); err != nil || tok.Token == "" {
		return Token{}, fmt.Errorf("connector answer %q: %v", raw, err)
	}
	return tok, nil
}
