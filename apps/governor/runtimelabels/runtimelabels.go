// Package runtimelabels reads runtime labels from the Director, through Dapr service invocation and as the
// caller: the Director applies the caller's tenant, scopes and visibility, so the Governor never learns
// more about a runtime than the caller may. It also names the Director's events that change labels.
package runtimelabels

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/governor/configuration"
	"github.com/mgmtplane/mgmtplane/apps/governor/notify"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/directorapi"
)

// Client asks the Director for runtime labels.
type Client struct{ director *directorapi.Client }

// New returns a client for the Director running as Dapr app directorAppID.
func New(inv directorapi.Invoker, directorAppID string) *Client {
	c := directorapi.New(inv, directorAppID)
	c.MaxResponse = maxResponseBytes
	return &Client{director: c}
}

const query = `query RuntimeLabels($id: ID!) { runtime(id: $id) { labels } }`

const maxResponseBytes = 4 << 20

// RuntimeLabels implements configuration.LabelSource.
func (c *Client) RuntimeLabels(ctx context.Context, runtimeID string) (map[string]any, error) {
	var out struct {
		Runtime *struct {
			Labels map[string]any `json:"labels"`
		} `json:"runtime"`
	}
	if err := c.director.Do(ctx, query, map[string]any{"id": runtimeID}, &out); err != nil {
		return nil, fmt.Errorf("runtime labels: %w", err)
	}
	switch {
	case out.Runtime == nil:
		return nil, apperr.NotFound("runtime", runtimeID)
	case out.Runtime.Labels == nil:
		return map[string]any{}, nil
	}
	return out.Runtime.Labels, nil
}

const listQuery = `query Runtimes($after: PageCursor) {
  runtimes(first: 200, after: $after) { data { id labels } pageInfo { endCursor hasNextPage } }
}`

// maxRuntimes bounds a rollout's plan: past it, the Director's answer is refused rather than half used.
const maxRuntimes = 10000

// Runtimes implements configuration.LabelSource: every runtime of the caller's tenant, with its labels,
// page by page.
func (c *Client) Runtimes(ctx context.Context) ([]configuration.PlannedRuntime, error) {
	var out []configuration.PlannedRuntime
	after := ""
	for {
		var page struct {
			Runtimes struct {
				Data []struct {
					ID     string         `json:"id"`
					Labels map[string]any `json:"labels"`
				} `json:"data"`
				PageInfo struct {
					EndCursor   string `json:"endCursor"`
					HasNextPage bool   `json:"hasNextPage"`
				} `json:"pageInfo"`
			} `json:"runtimes"`
		}
		vars := map[string]any{"after": nil}
		if after != "" {
			vars["after"] = after
		}
		if err := c.director.Do(ctx, listQuery, vars, &page); err != nil {
			return nil, fmt.Errorf("list runtimes: %w", err)
		}
		for _, r := range page.Runtimes.Data {
			out = append(out, configuration.PlannedRuntime{ID: r.ID, Labels: r.Labels})
		}
		if len(out) > maxRuntimes {
			return nil, fmt.Errorf("list runtimes: more than %d", maxRuntimes)
		}
		if !page.Runtimes.PageInfo.HasNextPage || page.Runtimes.PageInfo.EndCursor == after {
			return out, nil
		}
		after = page.Runtimes.PageInfo.EndCursor
	}
}

// Condition decodes the runtime's status from a runtime.updated event; ok is false when it carries none.
func Condition(data []byte) (h configuration.RuntimeHealth, ok bool, err error) {
	var ev struct {
		ID     string `json:"id"`
		Status *struct {
			Condition string    `json:"condition"`
			Timestamp time.Time `json:"timestamp"`
			Reason    *string   `json:"reason"`
		} `json:"status"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return h, false, fmt.Errorf("decode runtime event: %w", err)
	}
	if ev.ID == "" || ev.Status == nil || ev.Status.Condition == "" {
		return h, false, nil
	}
	h = configuration.RuntimeHealth{RuntimeID: ev.ID, Condition: ev.Status.Condition, Since: ev.Status.Timestamp}
	if ev.Status.Reason != nil {
		h.Reason = *ev.Status.Reason
	}
	return h, true, nil
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
