package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"

	"github.com/gin-gonic/gin"

	"github.com/mgmtplane/mgmtplane/apps/gateway/authn"
)

// When an app cannot be reached, the client learns which app and whether to retry, never how the mesh
// is wired: Dapr's own errors name internal addresses and ports, so they stay in the gateway's log.

// daprError is the body daprd answers with when it, not the target app, fails an invocation.
type daprError struct {
	Code    string `json:"errorCode"`
	Message string `json:"message"`
}

// sidecarError reports whether resp is an error of the sidecar rather than an answer of the app. The apps
// never answer with an errorCode field; daprd always does, with an ERR_ code. When it is not, resp's body
// is left readable from the start.
func sidecarError(resp *http.Response) (daprError, bool) {
	if resp.StatusCode < 400 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return daprError{}, false
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(raw), resp.Body), resp.Body}
	var e daprError
	if json.Unmarshal(raw, &e) != nil || !strings.HasPrefix(e.Code, "ERR_") {
		return daprError{}, false
	}
	return e, true
}

// sidecarFailure turns a sidecar error into the gateway's answer.
func sidecarFailure(appID string, e daprError) (status int, code, message string) {
	msg := strings.ToLower(e.Message)
	switch {
	case strings.Contains(msg, "permissiondenied") || strings.Contains(msg, "access control policy"):
		// The callee's access policy refused the gateway: a deployment mistake, not an outage.
		return http.StatusBadGateway, "UPSTREAM_REFUSED", appID + " could not be reached through the mesh"
	case strings.Contains(msg, "deadline exceeded") || strings.Contains(msg, "timeout") || strings.Contains(msg, "timed out"):
		return http.StatusGatewayTimeout, "UPSTREAM_TIMEOUT", appID + " did not answer in time"
	case e.Code == "ERR_DIRECT_INVOKE":
		// Connection refused, no such app in name resolution, an open circuit breaker: the app is down or
		// not there yet.
		return http.StatusServiceUnavailable, "UPSTREAM_UNAVAILABLE", appID + " is not available; try again shortly"
	default:
		// The mesh refused the gateway itself (API token, access policy): a deployment mistake.
		return http.StatusBadGateway, "UPSTREAM_REFUSED", appID + " could not be reached through the mesh"
	}
}

// upstreamFailure turns an error of the call to the gateway's own sidecar into the gateway's answer.
func upstreamFailure(ctx context.Context, appID string, err error) (status int, code, message string) {
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled):
		// The client went away; nobody reads this answer, but the log gets a sensible status.
		return 499, "CLIENT_CLOSED", "the client closed the request"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return http.StatusGatewayTimeout, "UPSTREAM_TIMEOUT", appID + " did not answer in time"
	case errors.Is(err, syscall.ECONNREFUSED):
		return http.StatusServiceUnavailable, "UPSTREAM_UNAVAILABLE", appID + " is not available; try again shortly"
	default:
		return http.StatusBadGateway, "UPSTREAM_UNAVAILABLE", appID + " is not reachable"
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// abortUpstream answers for an upstream that failed; 503 says when to try again.
func abortUpstream(c *gin.Context, status int, code, message string) {
	if status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "1")
	}
	authn.Abort(c, status, code, message)
}
