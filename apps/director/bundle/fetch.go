package bundle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
)

// fetcher downloads specifications and documents from their fetch requests.
type fetcher struct {
	client  *http.Client
	timeout time.Duration
	maxSize int64
}

// fetch downloads what fr points at. It supports what the schema promises (mode SINGLE, no filter) and
// basic credentials with additional headers and query parameters; anything else is an error that ends up
// in the fetch request's status.
func (f fetcher) fetch(ctx context.Context, fr *model.FetchRequest) (string, error) {
	if fr.Mode != model.FetchModeSingle {
		return "", fmt.Errorf("fetch mode %s is not supported yet, only SINGLE", fr.Mode)
	}
	if fr.Filter != nil {
		return "", errors.New("filters are not supported yet")
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fetchableURL(fr.URL), nil)
	if err != nil {
		return "", fmt.Errorf("build request: %w", err)
	}
	if err := authorize(req, fr.Auth); err != nil {
		return "", err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "", fmt.Errorf("GET %s: no answer within %s", fr.URL, f.timeout)
		}
		return "", fmt.Errorf("GET %s: %w", fr.URL, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", fmt.Errorf("GET %s: %s", fr.URL, resp.Status)
	}
	if resp.ContentLength > f.maxSize {
		return "", fmt.Errorf("GET %s: %d bytes, larger than the limit of %d", fr.URL, resp.ContentLength, f.maxSize)
	}
	// Read one byte past the limit to tell "exactly the limit" from "too large" without trusting headers.
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.maxSize+1))
	if err != nil {
		return "", fmt.Errorf("GET %s: read body: %w", fr.URL, err)
	}
	if int64(len(body)) > f.maxSize {
		return "", fmt.Errorf("GET %s: larger than the limit of %d bytes", fr.URL, f.maxSize)
	}
	return string(body), nil
}

// authorize adds stored credentials to an outgoing request. Only basic credentials are sent; OAuth and
// CSRF token requests are refused rather than silently calling without them.
func authorize(req *http.Request, a *model.Auth) error {
	if a == nil {
		return nil
	}
	switch c := a.Credential.(type) {
	case nil:
	case *model.BasicCredentialData:
		req.SetBasicAuth(c.Username, c.Password)
	default:
		return errors.New("only basic credentials are supported yet")
	}
	if a.RequestAuth != nil {
		return errors.New("requestAuth (CSRF tokens) is not supported yet")
	}
	for k, vs := range a.AdditionalHeaders {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if len(a.AdditionalQueryParams) > 0 {
		q := req.URL.Query()
		for k, vs := range a.AdditionalQueryParams {
			for _, v := range vs {
				q.Add(k, v)
			}
		}
		req.URL.RawQuery = q.Encode()
	}
	return nil
}

// unwrapURLError drops the "Get <url>:" prefix *url.Error adds, as the caller names the URL itself.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// download is content to fetch before it is stored: the fetch request and where its data goes.
type download struct {
	fr   *model.FetchRequest
	data **string
}

// maxParallelDownloads bounds the downloads one request makes at a time.
const maxParallelDownloads = 4

// runDownloads fetches every download, a few at a time, and records each outcome in its fetch request's
// status. A failed download is not an error of the operation: its status says FAILED and why.
func (s *Service) runDownloads(ctx context.Context, ds []download) {
	sem := make(chan struct{}, maxParallelDownloads)
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			data, status := s.download(ctx, d.fr)
			d.fr.Status = status
			if data != nil {
				*d.data = data
			}
		}()
	}
	wg.Wait()
}

// download fetches fr and returns the data (nil when the download failed) and the status to record.
func (s *Service) download(ctx context.Context, fr *model.FetchRequest) (*string, *model.FetchRequestStatus) {
	data, err := s.fetcher.fetch(ctx, fr)
	now := s.now().UTC()
	if err != nil {
		msg := err.Error()
		return nil, &model.FetchRequestStatus{Condition: model.FetchRequestStatusConditionFailed, Message: &msg, Timestamp: now}
	}
	return &data, &model.FetchRequestStatus{Condition: model.FetchRequestStatusConditionSucceeded, Timestamp: now}
}
