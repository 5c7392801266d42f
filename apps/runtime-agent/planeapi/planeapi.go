// Package planeapi is the agent's client for the management plane, reached through the gateway's TLS
// listener with the runtime's client certificate: the Runtime Governor's GraphQL API (configuration and its
// apply status) and the Director's heartbeats.
package planeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/gqlclient"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

// Client calls the Governor and the Director through the gateway at baseURL.
type Client struct {
	governorURL  string
	heartbeatURL string
	directorURL  string
	http         *http.Client
	// mutationHeartbeats is set once the gateway turned out not to have the heartbeat route.
	mutationHeartbeats atomic.Bool
}

// New returns a client for the gateway at baseURL (the https base of its TLS listener). httpClient carries
// the client certificate; it should have no overall Timeout, since long polls set their own deadlines.
func New(baseURL string, httpClient *http.Client) *Client {
	base := strings.TrimRight(baseURL, "/")
	return &Client{governorURL: base + "/governor/graphql", heartbeatURL: base + "/director/heartbeat",
		directorURL: base + "/director/graphql", http: httpClient}
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
    driftPolicy
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

const reportStatusMutation = `mutation reportConfigurationStatus($runtimeID: ID!, $revision: Int!, $status: ConfigurationApplyStatus!, $reason: String,
  $drift: [DriftItemInput!], $driftCorrected: Boolean) {
  reportConfigurationStatus(runtimeID: $runtimeID, revision: $revision, status: $status, reason: $reason,
    drift: $drift, driftCorrected: $driftCorrected) { revision status }
}`

// ReportConfigurationStatus tells the Governor how applying a revision went, or that the runtime drifted
// from it.
func (c *Client) ReportConfigurationStatus(ctx context.Context, runtimeID string, r revision.Report) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	vars := map[string]any{"runtimeID": runtimeID, "revision": r.Revision, "status": string(r.Status), "reason": nil,
		"drift": r.Drift, "driftCorrected": r.DriftCorrected}
	if r.Reason != "" {
		vars["reason"] = r.Reason
	}
	if err := c.do(ctx, c.governorURL, reportStatusMutation, vars, nil); err != nil {
		return fmt.Errorf("reportConfigurationStatus: %w", err)
	}
	return nil
}

// Heartbeat tells the Director the runtime is alive. It goes to the gateway's heartbeat route rather than
// the Director's GraphQL heartbeat mutation: the gateway hands a fleet's heartbeats to the Director in
// batches (package heartbeatbatch), and answers once this one is recorded. A gateway older than the route
// answers 404; the agent then sends the mutation, from then on. Errors are *Error values with the
// Director's or the gateway's code.
func (c *Client) Heartbeat(ctx context.Context, runtimeID string) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if !c.mutationHeartbeats.Load() {
		err := c.postHeartbeat(ctx, runtimeID)
		if se := new(gqlclient.StatusError); !errors.As(err, &se) || se.Status != http.StatusNotFound {
			return err
		}
		c.mutationHeartbeats.Store(true)
	}
	if err := c.do(ctx, c.directorURL, heartbeatMutation, map[string]any{"runtimeID": runtimeID}, nil); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

const heartbeatMutation = `mutation heartbeat($runtimeID: ID!) { heartbeat(runtimeID: $runtimeID) { id } }`

func (c *Client) postHeartbeat(ctx context.Context, runtimeID string) error {
	body, err := json.Marshal(map[string]string{"runtimeID": runtimeID})
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.heartbeatURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	defer resp.Body.Close()
	// The answer is {"runtimeID": ...} or the plane's JSON error, which Decode turns into an *Error.
	if err := gqlclient.Decode(resp.StatusCode, resp.Body, maxResponse, nil); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// Error is a GraphQL error from the server, with its extensions.code when there is one.
type Error = gqlclient.Error

// maxResponse caps what the agent reads from one answer; a configuration is small.
const maxResponse = 8 << 20

func (c *Client) do(ctx context.Context, url, query string, vars map[string]any, out any) error {
	return gqlclient.Post(ctx, c.http, url, nil, maxResponse, query, vars, out)
}
