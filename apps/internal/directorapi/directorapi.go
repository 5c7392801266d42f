// Package directorapi calls the Director's GraphQL API from another app of the plane, through Dapr service
// invocation and on the caller's behalf: the request carries the caller's own assertion (the gateway
// addresses it to the Director too), so the Director answers with the caller's tenant, scopes and
// visibility and the calling app never learns more than the caller may. The Provisioner, the Governor and
// the System Broker use it.
package directorapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/gqlclient"
)

// Invoker reaches an app through the sidecar; *invoke.Client implements it.
type Invoker interface {
	Do(ctx context.Context, appID, httpMethod, method string, header http.Header, body io.Reader) (*http.Response, error)
}

// Client calls the Director app.
type Client struct {
	inv   Invoker
	appID string
	// MaxResponse caps what one answer may hold; zero means gqlclient's default.
	MaxResponse int64
}

// New returns a client for the Director running as Dapr app appID.
func New(inv Invoker, appID string) *Client { return &Client{inv: inv, appID: appID} }

// ErrUnavailable is what callers see when the Director cannot be reached or fails; they may try again.
var ErrUnavailable = apperr.New(apperr.CodeUnavailable, "the Director did not answer; try again")

// passedOn are the Director's error codes that speak of the caller's own standing or input; they reach the
// caller as the Director put them. Anything else is the Director's trouble, not the caller's.
var passedOn = map[apperr.Code]bool{
	apperr.CodeForbidden: true, apperr.CodeUnauthenticated: true, apperr.CodeNotFound: true,
	apperr.CodeInvalidInput: true, apperr.CodeAlreadyExists: true, apperr.CodeUnavailable: true,
	apperr.CodeConflict: true,
}

// Do runs one GraphQL operation as the caller in ctx and decodes its data into out (which may be nil).
// Errors the caller should see are *apperr.Error values with the Director's code and message; a Director
// that cannot be reached or answers 5xx gives an error wrapping ErrUnavailable.
func (c *Client) Do(ctx context.Context, query string, vars map[string]any, out any) error {
	body, err := gqlclient.Encode(query, vars)
	if err != nil {
		return err
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if !assertion.Propagate(ctx, h) {
		return apperr.New(apperr.CodeUnauthenticated, "no caller to act for in the Director")
	}
	resp, err := c.inv.Do(ctx, c.appID, http.MethodPost, "graphql", h, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("director: %w", errors.Join(ErrUnavailable, err))
	}
	defer resp.Body.Close()
	err = gqlclient.Decode(resp.StatusCode, resp.Body, c.MaxResponse, out)
	var (
		gqlErr    *gqlclient.Error
		statusErr *gqlclient.StatusError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &gqlErr) && passedOn[apperr.Code(gqlErr.Code)]:
		return apperr.New(apperr.Code(gqlErr.Code), "%s", gqlErr.Message)
	case errors.As(err, &statusErr) && statusErr.Status >= 500:
		return fmt.Errorf("director: %w", errors.Join(ErrUnavailable, err))
	default:
		return fmt.Errorf("director: %w", err)
	}
}
