// Package sidecar asks a runtime's Dapr sidecar which components it has loaded, which is how the agent
// learns whether a revision really took effect: with spec.ignoreErrors a component that fails to
// initialise is simply missing from the sidecar's metadata.
package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

// Component is one entry of the metadata API's components list.
type Component struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Version string `json:"version"`
}

// Metadata is the part of GET /v1.0/metadata the agent reads.
type Metadata struct {
	ID         string      `json:"id"`
	Components []Component `json:"components"`
}

// Client reads a sidecar's metadata.
type Client struct {
	baseURL  string
	apiToken string
	http     *http.Client
}

// NewClient returns a client for the sidecar at baseURL (its HTTP API, e.g. http://127.0.0.1:3500).
// apiToken is the sidecar's DAPR_API_TOKEN, empty when it has none.
func NewClient(baseURL, apiToken string) *Client {
	return &Client{baseURL: strings.TrimRight(baseURL, "/"), apiToken: apiToken, http: &http.Client{Timeout: 5 * time.Second}}
}

// Metadata returns the sidecar's app ID and loaded components.
func (c *Client) Metadata(ctx context.Context) (Metadata, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseURL+"/v1.0/metadata", nil)
	if err != nil {
		return Metadata{}, fmt.Errorf("sidecar metadata: %w", err)
	}
	if c.apiToken != "" {
		req.Header.Set("dapr-api-token", c.apiToken)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Metadata{}, fmt.Errorf("sidecar metadata: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return Metadata{}, fmt.Errorf("sidecar metadata: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Metadata{}, fmt.Errorf("sidecar metadata: status %d", resp.StatusCode)
	}
	var md Metadata
	if err := json.Unmarshal(body, &md); err != nil {
		return Metadata{}, fmt.Errorf("sidecar metadata: %w", err)
	}
	return md, nil
}

// Verifier waits until a sidecar has loaded the components of a revision.
type Verifier struct {
	Client *Client
	// Timeout is how long a revision gets to load; components that fail to initialise never appear, so
	// this is also how long a failure takes to be reported.
	Timeout time.Duration
	// Settle is waited before the first look. Hot reload batches file events (≈200 ms) and re-initialises
	// changed components one after the other; the metadata API shows names and types only, so an updated
	// component is indistinguishable from its previous version until the sidecar has had time to reload.
	Settle time.Duration
	// Interval is the pause between looks.
	Interval time.Duration
}

// ErrNotLoaded means the sidecar did not load every component of the revision within the timeout.
var ErrNotLoaded = errors.New("components not loaded by the sidecar")

// Verify polls the sidecar until every binding the sidecar's app is in scope of is listed with its type,
// and no component in gone is listed any more. It returns ErrNotLoaded, naming the missing components,
// when the timeout passes first.
func (v *Verifier) Verify(ctx context.Context, bindings []revision.Binding, gone []string) error {
	ctx, cancel := context.WithTimeout(ctx, v.Timeout)
	defer cancel()
	wait := v.Settle
	var problems []string
	for {
		select {
		case <-ctx.Done():
			if len(problems) == 0 {
				return fmt.Errorf("verify: %w", ctx.Err())
			}
			return fmt.Errorf("%w within %s: %s", ErrNotLoaded, v.Timeout, strings.Join(problems, "; "))
		case <-time.After(wait):
		}
		wait = v.Interval
		md, err := v.Client.Metadata(ctx)
		if err != nil {
			// A look the deadline cut short says nothing new: the last answer the sidecar gave stands.
			if ctx.Err() == nil || len(problems) == 0 {
				problems = []string{err.Error()}
			}
			continue
		}
		problems = check(md, bindings, gone)
		if len(problems) == 0 {
			return nil
		}
	}
}

// check lists what keeps md from matching the revision.
func check(md Metadata, bindings []revision.Binding, gone []string) []string {
	loaded := map[string]string{}
	for _, c := range md.Components {
		loaded[c.Name] = c.Type
	}
	var problems []string
	for _, b := range bindings {
		if !b.InScope(md.ID) {
			continue
		}
		t, ok := loaded[b.Name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s (%s) is not loaded by app %q", b.Name, b.Type, md.ID))
		case t != b.Type:
			problems = append(problems, fmt.Sprintf("%s is loaded as %s, want %s", b.Name, t, b.Type))
		}
	}
	for _, name := range gone {
		if _, ok := loaded[name]; ok && !slices.ContainsFunc(bindings, func(b revision.Binding) bool { return b.Name == name }) {
			problems = append(problems, fmt.Sprintf("%s is still loaded", name))
		}
	}
	return problems
}
