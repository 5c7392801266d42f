// Package runtimelabels reads runtime labels from the Director, through Dapr service invocation and as the
// caller: the Director applies the caller's tenant, scopes and visibility, so the Governor never learns
// more about a runtime than the caller may. It also names the Director's events that change labels.
package runtimelabels

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/mgmtplane/mgmtplane/apps/governor/notify"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/gqlclient"
)

// Invoker calls another Dapr app; *invoke.Client implements it.
type Invoker interface {
	Do(ctx context.Context, appID, httpMethod, method string, header http.Header, body io.Reader) (*http.Response, error)
}

// Client asks the Director for runtime labels.
type Client struct {
	inv   Invoker
	appID string
}

// New returns a client for the Director running as Dapr app directorAppID.
func New(inv Invoker, directorAppID string) *Client { return &Client{inv: inv, appID: directorAppID} }

const query = `query RuntimeLabels($id: ID!) { runtime(id: $id) { labels } }`

const maxResponseBytes = 4 << 20

// errUnavailable is what callers see when the Director cannot answer; they may try again.
var errUnavailable = apperr.New(apperr.CodeUnavailable, "the Director did not answer with the runtime's labels; try again")

// RuntimeLabels implements configuration.LabelSource.
func (c *Client) RuntimeLabels(ctx context.Context, runtimeID string) (map[string]any, error) {
	body, err := gqlclient.Encode(query, map[string]any{"id": runtimeID})
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	// The Director answers as it would answer the caller: with the caller's own assertion, whose audience
	// the gateway extends to the Director for requests to the Governor.
	if !assertion.Propagate(ctx, h) {
		return nil, apperr.New(apperr.CodeUnauthenticated, "no caller to ask the Director for")
	}
	resp, err := c.inv.Do(ctx, c.appID, http.MethodPost, "graphql", h, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("runtime labels: %w", errors.Join(errUnavailable, err))
	}
	defer resp.Body.Close()
	var out struct {
		Runtime *struct {
			Labels map[string]any `json:"labels"`
		} `json:"runtime"`
	}
	err = gqlclient.Decode(resp.StatusCode, resp.Body, maxResponseBytes, &out)
	var (
		gqlErr    *gqlclient.Error
		statusErr *gqlclient.StatusError
	)
	switch {
	case errors.As(err, &gqlErr):
		switch code := apperr.Code(gqlErr.Code); code {
		case apperr.CodeForbidden, apperr.CodeUnauthenticated, apperr.CodeUnavailable, apperr.CodeNotFound:
			// The caller's own standing with the Director: tell them as the Director put it.
			return nil, apperr.New(code, "director: %s", gqlErr.Message)
		}
		return nil, fmt.Errorf("runtime labels: director answered: %w", err)
	case errors.As(err, &statusErr) && statusErr.Status >= 500:
		return nil, fmt.Errorf("runtime labels: director %w: %w", err, errUnavailable)
	case err != nil:
		return nil, fmt.Errorf("runtime labels: %w", err)
	case out.Runtime == nil:
		return nil, apperr.NotFound("runtime", runtimeID)
	case out.Runtime.Labels == nil:
		return map[string]any{}, nil
	}
	return out.Runtime.Labels, nil
}

// Topics returns the Director's topics that announce a change of a runtime's labels, each waking the
// waiters of that runtime. runtime.updated also follows heartbeats; a wake-up costs one recomputation.
func Topics() []notify.Topic {
	return []notify.Topic{
		{Name: "label.set", Keys: labelEventKeys},
		{Name: "label.deleted", Keys: labelEventKeys},
		{Name: "runtime.updated", Keys: runtimeEventKeys},
		{Name: "runtime.deleted", Keys: runtimeEventKeys},
	}
}

func labelEventKeys(data []byte) ([]string, error) {
	var ev struct {
		ObjectType string `json:"objectType"`
		ObjectID   string `json:"objectID"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, fmt.Errorf("decode label event: %w", err)
	}
	if ev.ObjectType != "runtime" || ev.ObjectID == "" {
		return nil, nil
	}
	return []string{notify.RuntimeKey(ev.ObjectID)}, nil
}

func runtimeEventKeys(data []byte) ([]string, error) {
	var ev struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, fmt.Errorf("decode runtime event: %w", err)
	}
	if ev.ID == "" {
		return nil, errors.New("runtime event without id")
	}
	return []string{notify.RuntimeKey(ev.ID)}, nil
}
