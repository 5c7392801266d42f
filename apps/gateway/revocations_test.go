package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/mgmtplane/mgmtplane/apps/gateway/authn"
)

// statusConnector answers the gateway's certificate status questions like the Connector, counting them.
type statusConnector struct {
	mu      sync.Mutex
	methods []string
	revoked bool
}

func (s *statusConnector) Do(_ context.Context, _, _, method string, _ http.Header, _ io.Reader) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.methods = append(s.methods, method)
	body := `{"known":true,"revoked":false}`
	if s.revoked {
		body = `{"known":true,"revoked":true}`
	}
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(body))}, nil
}

func (s *statusConnector) asked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.methods...)
}

func TestRevocationEventsReachTheCacheOnlyFromTheSidecar(t *testing.T) {
	conn := &statusConnector{}
	cache := authn.NewRevocationCache(authn.Connector{Invoker: conn, AppID: "connector"}, time.Hour, 10)
	gin.SetMode(gin.ReleaseMode)
	router := gin.New()
	subscribeRevocations(router, slog.New(slog.NewTextHandler(io.Discard, nil)), "revocations", "app-token", cache)

	send := func(method, path, token, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("dapr-api-token", token)
		}
		w := httptest.NewRecorder()
		router.ServeHTTP(w, req)
		return w
	}

	// The sidecar learns the subscription.
	w := send(http.MethodGet, "/dapr/subscribe", "app-token", "")
	var subs []struct{ PubSubName, Topic, Route string }
	if err := json.Unmarshal(w.Body.Bytes(), &subs); err != nil || len(subs) != 1 ||
		subs[0].PubSubName != "revocations" || subs[0].Topic != "certificate.revoked" {
		t.Fatalf("subscriptions: %d %s", w.Code, w.Body)
	}

	ctx := context.Background()
	if r, err := cache.Revoked(ctx, "ab12"); err != nil || r {
		t.Fatalf("first check: %v %v", r, err)
	}
	if got := conn.asked(); len(got) != 1 || got[0] != "certificates/status?serial=ab12" {
		t.Fatalf("asked the Connector %v; want the serial in the query, not the path", got)
	}
	conn.mu.Lock()
	conn.revoked = true
	conn.mu.Unlock()

	event := `{"specversion":"1.0","type":"certificate.revoked","data":{"serial":"ab12","tenant":"t1"}}`
	// Anyone else on the public listener is refused, and the entry stays.
	for _, token := range []string{"", "guess"} {
		if w := send(http.MethodPost, subs[0].Route, token, event); w.Code != http.StatusUnauthorized {
			t.Fatalf("event with token %q: %d %s", token, w.Code, w.Body)
		}
		if w := send(http.MethodGet, "/dapr/subscribe", token, ""); w.Code != http.StatusUnauthorized {
			t.Fatalf("subscriptions with token %q: %d", token, w.Code)
		}
	}
	if r, _ := cache.Revoked(ctx, "ab12"); r {
		t.Fatal("the entry went without an event from the sidecar")
	}

	w = send(http.MethodPost, subs[0].Route, "app-token", event)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "SUCCESS") {
		t.Fatalf("event from the sidecar: %d %s", w.Code, w.Body)
	}
	if r, err := cache.Revoked(ctx, "ab12"); err != nil || !r {
		t.Fatalf("after certificate.revoked: revoked %v, %v", r, err)
	}

	// An event that cannot be read is dropped, not redelivered for ever.
	w = send(http.MethodPost, subs[0].Route, "app-token", `{"data":{"tenant":"t1"}}`)
	if !strings.Contains(w.Body.String(), "DROP") {
		t.Fatalf("unreadable event: %d %s", w.Code, w.Body)
	}
}
