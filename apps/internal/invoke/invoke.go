// Package invoke calls other Dapr apps through the local sidecar's service-invocation API. Plain HTTP to the
// sidecar is what Dapr recommends (the gRPC InvokeService behind the go-sdk's InvokeMethod is deprecated, in
// 1.16 as in 1.18), and it lets request headers pass through to the target app unchanged.
package invoke

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Client invokes methods on other apps through the sidecar at BaseURL.
type Client struct {
	baseURL  string
	apiToken string
	http     *http.Client
}

// New returns a client for the sidecar at baseURL (for example http://127.0.0.1:3500). apiToken is the
// sidecar's DAPR_API_TOKEN, empty when the sidecar does not require one.
func New(baseURL, apiToken string, timeout time.Duration) *Client {
	return &Client{
		baseURL:  strings.TrimRight(baseURL, "/"),
		apiToken: apiToken,
		http: &http.Client{
			Timeout: timeout,
			// An app's redirect is for its caller to follow: its Location is a path at the app, which at the
			// sidecar would be a Dapr API path, not an invocation.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			// As many idle connections as requests a gateway holds at once: every agent's long poll is one,
			// and a connection closed for want of room when its poll is answered is dialled again at once for
			// the next poll (8% of the gateway's CPU while 1,000 polls were answered together).
			Transport: &http.Transport{
				MaxIdleConns:        2048,
				MaxIdleConnsPerHost: 2048,
				IdleConnTimeout:     90 * time.Second,
			},
		},
	}
}

// SidecarURL returns the local sidecar's HTTP address from DAPR_HTTP_PORT (set by dapr run and the injector).
func SidecarURL() string {
	port := os.Getenv("DAPR_HTTP_PORT")
	if port == "" {
		port = "3500"
	}
	return "http://127.0.0.1:" + port
}

// Do sends a request to method on appID and returns the target app's response as is. The caller closes
// the body. header is sent unchanged (apart from the sidecar token).
func (c *Client) Do(ctx context.Context, appID, httpMethod, method string, header http.Header, body io.Reader) (*http.Response, error) {
	u := c.baseURL + "/v1.0/invoke/" + url.PathEscape(appID) + "/method/" + strings.TrimLeft(method, "/")
	req, err := http.NewRequestWithContext(ctx, httpMethod, u, body)
	if err != nil {
		return nil, fmt.Errorf("invoke %s/%s: %w", appID, method, err)
	}
	if header != nil {
		// One copy of every value in one allocation (Clone), not one per header: the caller's map stays
		// its own, as before.
		req.Header = header.Clone()
	}
	if c.apiToken != "" {
		req.Header.Set("dapr-api-token", c.apiToken)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke %s/%s: %w", appID, method, err)
	}
	return resp, nil
}

// Ready reports whether the sidecar is up and its outbound APIs (invocation, components) can be used.
func (c *Client) Ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseURL+"/v1.0/healthz/outbound", nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("sidecar health: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("sidecar health: status %d", resp.StatusCode)
	}
	return nil
}
