package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/mgmtplane/mgmtplane/apps/gateway/authn"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/heartbeatbatch"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// heartbeats serves POST /director/heartbeat: a runtime's heartbeat, authenticated here and handed to the
// Director together with the others of a short window, in one service invocation (package heartbeatbatch
// says why). The runtime is answered once the Director has recorded its heartbeat, with the Director's
// verdict on it.
type heartbeats struct {
	log   *slog.Logger
	inv   Invoker
	sign  Signer
	appID string
	// window is how long the first heartbeat of a batch waits for others; max ends a batch early.
	window time.Duration
	max    int
	// timeout bounds one batch's call of the Director.
	timeout time.Duration

	queue   chan *pendingBeat
	stopped chan struct{}
}

// pendingBeat is a heartbeat waiting for its batch's answer.
type pendingBeat struct {
	item heartbeatbatch.Item
	done chan beatOutcome // buffered: the batch never waits for the request
}

// beatOutcome is how the gateway answers one heartbeat: 200 with nothing to say, or an error.
type beatOutcome struct {
	status        int
	code, message string
}

// inFlightBatches bounds the batches sent and not yet answered: with the Director slow, heartbeats queue
// here instead of piling calls on its sidecar.
const inFlightBatches = 4

func newHeartbeats(log *slog.Logger, inv Invoker, sign Signer, appID string, window time.Duration, max int, timeout time.Duration) *heartbeats {
	if max <= 0 || max > heartbeatbatch.MaxItems {
		max = heartbeatbatch.MaxItems
	}
	return &heartbeats{log: log, inv: inv, sign: sign, appID: appID, window: window, max: max, timeout: timeout,
		queue: make(chan *pendingBeat, 4*max), stopped: make(chan struct{})}
}

// handle is the route's handler; an authentication middleware runs before it.
func (h *heartbeats) handle(c *gin.Context) {
	id, ok := authn.Identity(c)
	if !ok {
		authn.Abort(c, http.StatusUnauthorized, "UNAUTHENTICATED", "no identity")
		return
	}
	if id.ConsumerType != identity.ConsumerRuntime {
		authn.Abort(c, http.StatusForbidden, string(apperr.CodeForbidden), "only a runtime sends heartbeats, with its client certificate")
		return
	}
	var body struct {
		RuntimeID string `json:"runtimeID"`
	}
	err := c.ShouldBindJSON(&body)
	if abortTooLarge(c, err) {
		return // 413, as on the other routes
	}
	if err != nil || body.RuntimeID == "" {
		authn.Abort(c, http.StatusBadRequest, string(apperr.CodeInvalidInput), `the body must be {"runtimeID": "<id>"}`)
		return
	}
	raw, err := h.sign.Sign(id, h.appID)
	if err != nil {
		h.log.ErrorContext(c.Request.Context(), "sign caller assertion", "err", err)
		abortUpstream(c, http.StatusInternalServerError, "INTERNAL", "the gateway cannot vouch for the caller now")
		return
	}
	p := &pendingBeat{item: heartbeatbatch.Item{RuntimeID: body.RuntimeID, Assertion: raw}, done: make(chan beatOutcome, 1)}
	select {
	case h.queue <- p:
	case <-c.Request.Context().Done():
		return
	case <-h.stopped:
		abortUpstream(c, http.StatusServiceUnavailable, "UNAVAILABLE", "the gateway is shutting down; try again")
		return
	}
	select {
	case out := <-p.done:
		if out.status != http.StatusOK {
			abortUpstream(c, out.status, out.code, out.message)
			return
		}
		c.JSON(http.StatusOK, gin.H{"runtimeID": body.RuntimeID})
	case <-c.Request.Context().Done():
	case <-h.stopped:
		abortUpstream(c, http.StatusServiceUnavailable, "UNAVAILABLE", "the gateway is shutting down; try again")
	}
}

// run gathers heartbeats into batches and sends them until ctx ends. A batch starts with the first
// heartbeat that arrives and closes after window or at max heartbeats; up to inFlightBatches are sent at
// once while the next one gathers.
func (h *heartbeats) run(ctx context.Context) {
	defer close(h.stopped)
	sending := make(chan struct{}, inFlightBatches)
	for {
		var batch []*pendingBeat
		select {
		case <-ctx.Done():
			return
		case p := <-h.queue:
			batch = append(batch, p)
		}
		timer := time.NewTimer(h.window)
	gather:
		for len(batch) < h.max {
			select {
			case p := <-h.queue:
				batch = append(batch, p)
			case <-timer.C:
				break gather
			case <-ctx.Done():
				break gather
			}
		}
		timer.Stop()
		select {
		case sending <- struct{}{}:
		case <-ctx.Done():
			return
		}
		go func() {
			defer func() { <-sending }()
			h.send(ctx, batch)
		}()
	}
}

// send hands one batch to the Director and answers each of its heartbeats.
func (h *heartbeats) send(ctx context.Context, batch []*pendingBeat) {
	req := heartbeatbatch.Request{Heartbeats: make([]heartbeatbatch.Item, len(batch))}
	for i, p := range batch {
		req.Heartbeats[i] = p.item
	}
	results, failed := h.call(context.WithoutCancel(ctx), req)
	for i, p := range batch {
		switch {
		case failed != nil:
			p.done <- *failed
		case results[i].OK():
			p.done <- beatOutcome{status: http.StatusOK}
		default:
			p.done <- beatOutcome{status: statusOf(apperr.Code(results[i].Code)), code: results[i].Code, message: results[i].Message}
		}
	}
}

// call sends req and returns one result per heartbeat or, when the batch got no answer from the Director,
// the outcome every heartbeat in it gets.
func (h *heartbeats) call(ctx context.Context, req heartbeatbatch.Request) ([]heartbeatbatch.Result, *beatOutcome) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	body, err := json.Marshal(req)
	if err != nil {
		return nil, h.failed(http.StatusInternalServerError, "INTERNAL", "the gateway cannot pass the heartbeat on", err)
	}
	resp, err := h.inv.Do(ctx, h.appID, http.MethodPost, heartbeatbatch.Method, http.Header{"Content-Type": {"application/json"}}, bytes.NewReader(body))
	if err != nil {
		status, code, msg := upstreamFailure(ctx, h.appID, err)
		return nil, h.failed(status, code, msg, err)
	}
	defer resp.Body.Close()
	if sidecarErr, ok := sidecarError(resp); ok {
		status, code, msg := sidecarFailure(h.appID, sidecarErr)
		return nil, h.failed(status, code, msg, fmt.Errorf("%s: %s", sidecarErr.Code, sidecarErr.Message))
	}
	var out heartbeatbatch.Response
	if resp.StatusCode != http.StatusOK {
		return nil, h.failed(http.StatusBadGateway, "UPSTREAM_UNAVAILABLE", h.appID+" refused the heartbeats", fmt.Errorf("status %d", resp.StatusCode))
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Results) != len(req.Heartbeats) {
		return nil, h.failed(http.StatusBadGateway, "UPSTREAM_UNAVAILABLE", h.appID+" answered the heartbeats unreadably",
			errors.Join(errors.New("batch answer unreadable or of the wrong length"), err))
	}
	return out.Results, nil
}

// failed logs why a batch got no answer and returns what its heartbeats are answered.
func (h *heartbeats) failed(status int, code, msg string, cause error) *beatOutcome {
	h.log.Error("heartbeat batch", "app", h.appID, "status", status, "err", cause)
	return &beatOutcome{status: status, code: code, message: msg}
}

// statusOf is the HTTP status of a Director error code; the Director's own trouble is a bad gateway.
func statusOf(code apperr.Code) int {
	if status, ok := apperr.HTTPStatus(code); ok {
		return status
	}
	return http.StatusBadGateway
}
