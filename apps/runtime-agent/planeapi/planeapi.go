// Package planeapi is the agent's client for the management plane's GraphQL APIs, reached through the
// gateway's TLS listener with the runtime's client certificate: the Runtime Governor (configuration and
// its apply status) and the Director (heartbeats).
package planeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

// Client calls the Governor and the Director through the gateway at baseURL.
type Client struct {
	governorURL string
	directorURL string
	http        *http.Client
}

// New returns a client for the gateway at baseURL (the https base of its TLS listener). httpClient carries
// the client certificate; it should have no overall Timeout, since long polls set their own deadlines.
func New(baseURL string, httpClient *http.Client) *Client {
	base := strings.TrimRight(baseURL, "/")
	return &Client{governorURL: base + "/governor/graphql", directorURL: base + "/director/graphql", http: httpClient}
}

// callTimeout bounds the calls that do not long-poll.
const callTimeout = 15 * time.Second

// pollGrace is added to a long poll's wait: the Governor answers when the wait ends, and the answer needs
// time to travel.
const pollGrace = 10 * time.Second

const runtimeConfigurationQuery = `query runtimeConfiguration($runtimeID: ID!, $afterRevision: Int, $waitSeconds: Int) {
  runtimeConfiguration(runtimeID: $runtimeID, afterRevision: $afterRevision, waitSeconds: $waitSeconds) {
    runtimeID
    revision
    secretsIncluded
    bindings { name type version metadata { name value } secretMetadata { name value } scopes }
  }
}`

// RuntimeConfiguration returns the runtime's configuration. With wait > 0 it is a long poll: the Governor
// answers as soon as the revision is above afterRevision, or when wait has passed with the current one.
func (c *Client) RuntimeConfiguration(ctx context.Context, runtimeID string, afterRevision int, wait time.Duration) (revision.Revision, error) {
	ctx, cancel := context.WithTimeout(ctx, wait+callTimeout+pollGrace)
	defer cancel()
	var out struct {
		RuntimeConfiguration *revision.Revision `json:"runtimeConfiguration"`
	}
	err := c.do(ctx, c.governorURL, runtimeConfigurationQuery, map[string]any{
		"runtimeID":     runtimeID,
		"afterRevision": afterRevision,
		"waitSeconds":   int(wait / time.Second),
	}, &out)
	if err != nil {
		return revision.Revision{}, fmt.Errorf("runtimeConfiguration: %w", err)
	}
	if out.RuntimeConfiguration == nil {
		return revision.Revision{}, errors.New("runtimeConfiguration: empty answer")
	}
	return *out.RuntimeConfiguration, nil
}

const reportStatusMutation = `mutation reportConfigurationStatus($runtimeID: ID!, $revision: Int!, $status: ConfigurationApplyStatus!, $reason: String) {
  reportConfigurationStatus(runtimeID: $runtimeID, revision: $revision, status: $status, reason: $reason) { revision status }
}`

// ReportConfigurationStatus tells the Governor how applying revision rev went.
func (c *Client) ReportConfigurationStatus(ctx context.Context, runtimeID string, rev int, status revision.Status, reason string) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	vars := map[string]any{"runtimeID": runtimeID, "revision": rev, "status": string(status), "reason": nil}
	if reason != "" {
		vars["reason"] = reason
	}
	if err := c.do(ctx, c.governorURL, reportStatusMutation, vars, nil); err != nil {
		return fmt.Errorf("reportConfigurationStatus: %w", err)
	}
	return nil
}

const heartbeatMutation = `mutation heartbeat($runtimeID: ID!) { heartbeat(runtimeID: $runtimeID) { id } }`

// Heartbeat tells the Director the runtime is alive.
func (c *Client) Heartbeat(ctx context.Context, runtimeID string) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if err := c.do(ctx, c.directorURL, heartbeatMutation, map[string]any{"runtimeID": runtimeID}, nil); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// Error is a GraphQL error from the server, with its extensions.code when there is one.
type Error struct {
	Message string
	Code    string
}

func (e *Error) Error() string {
	if e.Code != "" {
		return e.Code + ": " + e.Message
	}
	return e.Message
}

// maxResponse caps what the agent reads from one answer; a configuration is small.
const maxResponse = 8 << 20

func (c *Client) do(ctx context.Context, url, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("read answer from %s: %w", url, err)
	}
	var gr struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message    string `json:"message"`
			Extensions struct {
				Code string `json:"code"`
			} `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &gr); err != nil {
		return fmt.Errorf("post %s: status %d: %s", url, resp.StatusCode, snippet(raw))
	}
	if len(gr.Errors) > 0 {
		errs := make([]error, 0, len(gr.Errors))
		for _, e := range gr.Errors {
			errs = append(errs, &Error{Message: e.Message, Code: e.Extensions.Code})
		}
		return errors.Join(errs...)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("post %s: status %d: %s", url, resp.StatusCode, snippet(raw))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(gr.Data, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

func snippet(b []byte) string {
	const max = 200
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}
