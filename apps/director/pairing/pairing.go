// Package pairing is the Director's side of the Connector: it issues the one-time tokens with which
// applications and runtimes pair with the management plane, creates and deletes OAuth client credentials
// (system auths), and has the Connector revoke everything an unregistered consumer held. The Connector owns
// the tokens, certificates and clients; the Director checks that the application, runtime or integration
// system exists in the caller's tenant and calls the Connector through Dapr service invocation.
package pairing

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
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
	// expiresAt is ours, beside Compass's two fields: whoever shows the token can say until when it works.
	b, _ := json.Marshal(map[string]string{"token": t.Token, "connectorURL": t.ConnectorURL, "expiresAt": t.ExpiresAt})
	return string(b), base64.StdEncoding.EncodeToString(b)
}

// Owner is whom the Connector issued something to.
type Owner struct {
	Tenant       string `json:"tenant"`
	ConsumerID   string `json:"consumerID"`
	ConsumerType string `json:"consumerType"`
}

// Client is a set of OAuth client credentials. The secret is only known when the client was just created.
type Client struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret,omitempty"`
	URL          string `json:"url"`
	Owner        Owner  `json:"owner"`
}

// Service calls the Connector, and keeps the records of the one-time tokens it had issued in store.
type Service struct {
	inv       Invoker
	connector string
	store     Store
	now       func() time.Time
}

// NewService returns a service calling the Connector app connectorAppID and keeping token records in store.
func NewService(inv Invoker, connectorAppID string, store Store) *Service {
	return &Service{inv: inv, connector: connectorAppID, store: store, now: time.Now}
}

// owner is consumerID of consumerType in the caller's tenant.
func owner(ctx context.Context, consumerType, consumerID string) (Owner, error) {
	tenant, err := identity.TenantFrom(ctx)
	if err != nil {
		return Owner{}, apperr.New(apperr.CodeUnauthenticated, "%v", err)
	}
	return Owner{Tenant: tenant, ConsumerID: consumerID, ConsumerType: consumerType}, nil
}

// call sends in as JSON (when not nil) to the Connector's method and decodes the answer into out. The
// Connector's coded refusals (NOT_FOUND, INVALID_INPUT, ...) come back as the same apperr codes.
func (s *Service) call(ctx context.Context, httpMethod, method string, in, out any) error {
	var (
		body   io.Reader
		header http.Header
	)
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, header = bytes.NewReader(raw), http.Header{"Content-Type": {"application/json"}}
	}
	if header == nil {
		header = http.Header{}
	}
	// The Connector acts for the Director's caller, in the caller's tenant, and checks the caller's
	// assertion itself; the gateway addresses assertions for the Director to the Connector too.
	if !assertion.Propagate(ctx, header) {
		return apperr.New(apperr.CodeUnauthenticated, "no caller to ask the Connector for")
	}
	resp, err := s.inv.Do(ctx, s.connector, httpMethod, method, header, body)
	if err != nil {
		return apperr.New(apperr.CodeUnavailable, "the Connector is not reachable: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		var refusal struct{ Code, Message string }
		if json.Unmarshal(raw, &refusal) == nil && refusal.Code != "" && resp.StatusCode/100 == 4 {
			return apperr.New(apperr.Code(refusal.Code), "%s", refusal.Message)
		}
		return fmt.Errorf("connector %s %s answered %s: %s", httpMethod, method, resp.Status, raw)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("connector %s %s answer %q: %w", httpMethod, method, raw, err)
	}
	return nil
}

// RevokeAll has the Connector revoke every certificate and delete every client credential of consumerID:
// an unregistered application, runtime or integration system must not keep working with them.
func (s *Service) RevokeAll(ctx context.Context, consumerType, consumerID string) error {
	o, err := owner(ctx, consumerType, consumerID)
	if err != nil {
		return err
	}
	if err := s.call(ctx, http.MethodPost, "owners/revoke", o, nil); err != nil {
		return fmt.Errorf("revoke the credentials of %s: %w", consumerID, err)
	}
	if tokensFor(consumerType) {
		// The records go with their owner, as Compass's system auths went with theirs.
		return s.forgetTokens(ctx, consumerType, consumerID)
	}
	return nil
}

// Issue asks the Connector for a token for consumerID of consumerType in the caller's tenant and records
// that it did, so that the token shows in the consumer's `auths` as in Compass. The caller must have
// checked that the consumer exists.
func (s *Service) Issue(ctx context.Context, consumerType, consumerID string) (Token, error) {
	o, err := owner(ctx, consumerType, consumerID)
	if err != nil {
		return Token{}, err
	}
	var tok Token
	if err := s.call(ctx, http.MethodPost, "tokens", o, &tok); err != nil {
		return Token{}, err
	}
	if tok.Token == "" {
		return Token{}, fmt.Errorf("connector issued an empty token")
	}
	// Recorded after the Connector answered: a failure here fails the request, and the token, which nobody
	// was given, expires unused.
	if err := s.record(ctx, consumerType, consumerID, tok); err != nil {
		return Token{}, err
	}
	return tok, nil
}

// CreateClient asks the Connector for new client credentials for consumerID of consumerType in the caller's
// tenant. The caller must have checked that the consumer exists.
func (s *Service) CreateClient(ctx context.Context, consumerType, consumerID string) (*Client, error) {
	o, err := owner(ctx, consumerType, consumerID)
	if err != nil {
		return nil, err
	}
	var c Client
	if err := s.call(ctx, http.MethodPost, "clients", o, &c); err != nil {
		return nil, err
	}
	if c.ClientID == "" || c.ClientSecret == "" {
		return nil, fmt.Errorf("connector created incomplete client credentials")
	}
	return &c, nil
}

// Clients returns the client credentials of each of consumerIDs (of consumerType, in the caller's tenant),
// without secrets, in one call.
func (s *Service) Clients(ctx context.Context, consumerType string, consumerIDs []string) (map[string][]Client, error) {
	var q struct {
		Owners []Owner `json:"owners"`
	}
	for _, id := range consumerIDs {
		o, err := owner(ctx, consumerType, id)
		if err != nil {
			return nil, err
		}
		q.Owners = append(q.Owners, o)
	}
	var out struct {
		Clients []Client `json:"clients"`
	}
	if err := s.call(ctx, http.MethodPost, "clients/query", q, &out); err != nil {
		return nil, err
	}
	byOwner := make(map[string][]Client, len(consumerIDs))
	for _, c := range out.Clients {
		byOwner[c.Owner.ConsumerID] = append(byOwner[c.Owner.ConsumerID], c)
	}
	return byOwner, nil
}

// DeleteClient deletes the client credentials clientID of a consumer of consumerType in the caller's
// tenant; credentials of anything else are NOT_FOUND.
func (s *Service) DeleteClient(ctx context.Context, consumerType, clientID string) (*Client, error) {
	o, err := owner(ctx, consumerType, "")
	if err != nil {
		return nil, err
	}
	q := url.Values{"tenant": {o.Tenant}, "consumerType": {consumerType}}
	var c Client
	if err := s.call(ctx, http.MethodDelete, "clients/"+url.PathEscape(clientID)+"?"+q.Encode(), nil, &c); err != nil {
		return nil, err
	}
	return &c, nil
}
