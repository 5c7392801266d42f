package bundle

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

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
)

// credentialsRequest is what an application's webhook receives when a consumer asks for credentials to
// one of its bundles. bundleInstanceAuthID identifies the request: a retried call carries the same one, so
// the application can recognise a request it has already handled.
type credentialsRequest struct {
	BundleInstanceAuthID string          `json:"bundleInstanceAuthID"`
	BundleID             string          `json:"bundleID"`
	ApplicationID        string          `json:"applicationID"`
	Context              json.RawMessage `json:"context"`
	InputParams          json.RawMessage `json:"inputParams"`
}

// credentialsAnswer is what a webhook may answer synchronously: credentials, or a refusal. The refusal's
// fields are those of BundleInstanceAuthStatusInput.
type credentialsAnswer struct {
	Auth    *model.AuthInput `json:"auth"`
	Status  string           `json:"status"`
	Reason  string           `json:"reason"`
	Message string           `json:"message"`
}

// answer is what came of asking an application for credentials. Exactly one field is set.
type answer struct {
	accepted bool        // 202 Accepted: the application answers later, with setBundleInstanceAuth
	auth     *model.Auth // credentials, given at once
	refused  *credentialsAnswer
	invalid  error // the application answered, but not in a way we understand
	failed   error // the application could not be asked
}

// maxAnswerSize bounds the body read from a webhook; credentials are small.
const maxAnswerSize = 1 << 20

// webhookCaller calls an application's webhook, retrying what may succeed on another try.
type webhookCaller struct {
	client   *http.Client
	timeout  time.Duration
	attempts int
	backoff  time.Duration
}

// ask posts req to the webhook, up to attempts times with a doubling pause in between.
func (w webhookCaller) ask(ctx context.Context, hook *model.Webhook, req credentialsRequest) answer {
	body, err := json.Marshal(req)
	if err != nil {
		return answer{failed: fmt.Errorf("encode request: %w", err)}
	}
	pause := w.backoff
	for attempt := 1; ; attempt++ {
		a, retry := w.once(ctx, hook, body)
		if !retry || attempt >= w.attempts {
			if a.failed != nil && attempt > 1 {
				a.failed = fmt.Errorf("%d attempts, last: %w", attempt, a.failed)
			}
			return a
		}
		select {
		case <-ctx.Done():
			return answer{failed: fmt.Errorf("gave up after %d attempts: %w", attempt, ctx.Err())}
		case <-time.After(pause):
		}
		pause *= 2
	}
}

// once makes one call and says whether another attempt could fare better.
func (w webhookCaller) once(ctx context.Context, hook *model.Webhook, body []byte) (answer, bool) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(body))
	if err != nil {
		return answer{failed: fmt.Errorf("build request: %w", err)}, false
	}
	req.Header.Set("Content-Type", "application/json")
	if err := authorize(req, hook.Auth); err != nil {
		return answer{failed: fmt.Errorf("webhook credentials: %w", err)}, false
	}
	resp, err := w.client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return answer{failed: fmt.Errorf("POST %s: no answer within %s", hook.URL, w.timeout)}, true
		}
		return answer{failed: fmt.Errorf("POST %s: %w", hook.URL, unwrapURLError(err))}, true
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerSize))
	if err != nil {
		return answer{failed: fmt.Errorf("POST %s: read answer: %w", hook.URL, err)}, true
	}
	switch code := resp.StatusCode; {
	case code == http.StatusAccepted:
		return answer{accepted: true}, false
	case code >= 200 && code <= 299:
		return parseAnswer(raw), false
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return answer{failed: fmt.Errorf("POST %s: %s", hook.URL, resp.Status)}, true
	default:
		return answer{failed: fmt.Errorf("POST %s: %s", hook.URL, resp.Status)}, false
	}
}

func parseAnswer(raw []byte) answer {
	var a credentialsAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return answer{invalid: errors.New("the answer is not a JSON object")}
	}
	failed := strings.EqualFold(a.Status, string(model.BundleInstanceAuthStatusConditionFailed))
	switch {
	case a.Auth != nil && failed:
		return answer{invalid: errors.New("the answer has both auth and status FAILED")}
	case a.Auth != nil:
		auth, err := authFromInput("auth", a.Auth)
		if err != nil {
			return answer{invalid: err}
		}
		return answer{auth: auth}
	case failed:
		return answer{refused: &a}
	}
	return answer{invalid: errors.New(`the answer has neither "auth" nor "status": "FAILED"`)}
}
