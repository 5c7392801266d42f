package notify_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/governor/notify"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-time.After(50 * time.Millisecond):
		return false
	}
}

func TestHub(t *testing.T) {
	h := notify.NewHub()
	a1, a2, b := h.Changed("a"), h.Changed("a"), h.Changed("b")
	h.Notify("a")
	if !closed(a1) || !closed(a2) {
		t.Error("waiters of a not woken")
	}
	if closed(b) {
		t.Error("waiter of b woken by a")
	}
	if next := h.Changed("a"); closed(next) {
		t.Error("a new wait on a is already over")
	}
	h.Notify("nobody-waits")
	h.Close()
	h.Close()
	if !closed(h.Closed()) {
		t.Error("Close did not close")
	}
}

func TestSubscriptions(t *testing.T) {
	keys := func(data []byte) ([]string, error) {
		var ev struct{ Tenant string }
		if err := json.Unmarshal(data, &ev); err != nil || ev.Tenant == "" {
			return nil, errors.New("no tenant")
		}
		return []string{notify.TenantKey(ev.Tenant)}, nil
	}
	newServer := func() (*notify.Hub, *httptest.Server) {
		h := notify.NewHub()
		mux := http.NewServeMux()
		(&notify.Subscriptions{Hub: h, PubSub: "pubsub", Log: slog.New(slog.DiscardHandler),
			Topics: []notify.Topic{{Name: "configuration.changed", Keys: keys}, {Name: "label.set", Keys: keys}}}).Register(mux)
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		return h, srv
	}

	t.Run("lists the subscriptions", func(t *testing.T) {
		_, srv := newServer()
		resp, err := http.Get(srv.URL + "/dapr/subscribe")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var subs []map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&subs); err != nil {
			t.Fatal(err)
		}
		want := []map[string]string{
			{"pubsubname": "pubsub", "topic": "configuration.changed", "route": "/events/configuration.changed"},
			{"pubsubname": "pubsub", "topic": "label.set", "route": "/events/label.set"},
		}
		if len(subs) != len(want) {
			t.Fatalf("got %v", subs)
		}
		for i := range want {
			for k, v := range want[i] {
				if subs[i][k] != v {
					t.Errorf("subscription %d: %s = %q, want %q", i, k, subs[i][k], v)
				}
			}
		}
	})

	b64 := base64.StdEncoding.EncodeToString([]byte(`{"tenant":"t1"}`))
	tests := []struct {
		name, body, token, wantStatus string
		code                          int
		wakes                         bool
	}{
		{"json data", `{"specversion":"1.0","data":{"tenant":"t1","revision":2}}`, "", "SUCCESS", 200, true},
		{"data as a json string", `{"data":"{\"tenant\":\"t1\"}"}`, "", "SUCCESS", 200, true},
		{"base64 data", `{"data_base64":"` + b64 + `"}`, "", "SUCCESS", 200, true},
		{"unreadable event is dropped", `{"data":{"other":1}}`, "", "DROP", 200, false},
		{"not json is dropped", `garbage`, "", "DROP", 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, srv := newServer()
			waiting := h.Changed(notify.TenantKey("t1"))
			resp, err := http.Post(srv.URL+"/events/configuration.changed", "application/cloudevents+json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got struct{ Status string }
			_ = json.NewDecoder(resp.Body).Decode(&got)
			if resp.StatusCode != tt.code || got.Status != tt.wantStatus {
				t.Errorf("answer %d %q, want %d %q", resp.StatusCode, got.Status, tt.code, tt.wantStatus)
			}
			if closed(waiting) != tt.wakes {
				t.Errorf("woken = %v, want %v", !tt.wakes, tt.wakes)
			}
		})
	}
}

func TestHubObserversRunBeforeWaitersWake(t *testing.T) {
	h := notify.NewHub()
	waiting := h.Changed(notify.TenantKey("t1"))
	var seen []string
	h.OnNotify(func(key string) {
		if key == notify.TenantKey("t1") && closed(waiting) {
			t.Error("a waiter woke before the observer ran")
		}
		seen = append(seen, key)
	})
	h.Notify(notify.TenantKey("t1"))
	h.Notify(notify.RuntimeKey("rt-1"))
	if !closed(waiting) || len(seen) != 2 {
		t.Fatalf("woken %v, observed %v", closed(waiting), seen)
	}
	if tenant, ok := notify.TenantOf(seen[0]); !ok || tenant != "t1" {
		t.Errorf("TenantOf(%q) = %q, %v", seen[0], tenant, ok)
	}
	if id, ok := notify.RuntimeOf(seen[1]); !ok || id != "rt-1" {
		t.Errorf("RuntimeOf(%q) = %q, %v", seen[1], id, ok)
	}
	if _, ok := notify.RuntimeOf(seen[0]); ok {
		t.Error("a tenant key read as a runtime key")
	}
}
