package configuration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/governor/configuration"
	"github.com/mgmtplane/mgmtplane/apps/governor/notify"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

type watchResult struct {
	eff *configuration.Effective
	err error
	at  time.Time
}

// watch starts a long-poll and returns where its answer arrives.
func watch(ctx context.Context, svc *configuration.Service, runtimeID string, after int, wait time.Duration) <-chan watchResult {
	out := make(chan watchResult, 1)
	go func() {
		eff, err := svc.Watch(ctx, runtimeID, after, wait)
		out <- watchResult{eff, err, time.Now()}
	}()
	return out
}

// settle gives a started long-poll time to compute and go to sleep.
func settle() { time.Sleep(50 * time.Millisecond) }

func TestWatch(t *testing.T) {
	tests := []struct {
		name string
		// change happens while the long-poll waits; nil for none.
		change  func(t *testing.T, e *env, cfgID string)
		wait    time.Duration
		wantRev int
		// within bounds how long after the change (or the start) the answer comes.
		within time.Duration
	}{
		{"wakes on a write", func(t *testing.T, e *env, id string) {
			if _, err := e.svc.Update(asUser("t1"), id, forRuntime("rt-1", httpBinding("log", "http://new"))); err != nil {
				t.Fatal(err)
			}
		}, 10 * time.Second, 2, time.Second},
		{"wakes when the runtime's labels change", func(t *testing.T, e *env, _ string) {
			e.director.set("t1", "rt-1", map[string]any{"env": "prod"})
			e.hub.Notify(notify.RuntimeKey("rt-1")) // what a label.set event does
		}, 10 * time.Second, 2, time.Second},
		{"a write elsewhere wakes but does not answer", func(t *testing.T, e *env, _ string) {
			mustCreate(t, asUser("t1"), e.svc, forRuntime("rt-9", httpBinding("log", "http://x")))
		}, 400 * time.Millisecond, 1, 600 * time.Millisecond},
		{"times out with the current one", nil, 300 * time.Millisecond, 1, 600 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.director.set("t1", "rt-1", map[string]any{"env": "dev"})
			mustCreate(t, asUser("t1"), e.svc, forLabels(map[string]string{"env": "prod"}, httpBinding("metrics", "http://m")))
			c := mustCreate(t, asUser("t1"), e.svc, forRuntime("rt-1", httpBinding("log", "http://old")))
			start := time.Now()
			res := watch(asRuntime("t1", "rt-1"), e.svc, "rt-1", 1, tt.wait)
			settle()
			if tt.change != nil {
				start = time.Now()
				tt.change(t, e, c.ID)
			}
			select {
			case r := <-res:
				if r.err != nil {
					t.Fatal(r.err)
				}
				if r.eff.Revision != tt.wantRev {
					t.Errorf("revision %d, want %d", r.eff.Revision, tt.wantRev)
				}
				if tt.change == nil && r.at.Sub(start) < tt.wait {
					t.Errorf("answered after %v, before the wait of %v was over", r.at.Sub(start), tt.wait)
				}
				if d := r.at.Sub(start); d > tt.within {
					t.Errorf("answered after %v, want within %v", d, tt.within)
				}
			case <-time.After(tt.within + time.Second):
				t.Fatalf("no answer within %v", tt.within+time.Second)
			}
		})
	}
}

func TestWatchAnswersAtOnce(t *testing.T) {
	e := newEnv(t)
	e.director.set("t1", "rt-1", nil)
	mustCreate(t, asUser("t1"), e.svc, forRuntime("rt-1", httpBinding("log", "http://a")))
	start := time.Now()
	eff, err := e.svc.Watch(asUser("t1"), "rt-1", 0, 10*time.Second)
	if err != nil || eff.Revision != 1 || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("revision above afterRevision should answer at once: %+v, %v after %v", eff, err, time.Since(start))
	}
	// waitSeconds 0 answers at once whatever the revision.
	if eff, err := e.svc.Watch(asUser("t1"), "rt-1", 5, 0); err != nil || eff.Revision != 1 {
		t.Fatalf("no wait: %+v, %v", eff, err)
	}
}

func TestWatchArguments(t *testing.T) {
	e := newEnv(t)
	e.director.set("t1", "rt-1", nil)
	for _, tt := range []struct {
		after int
		wait  time.Duration
		code  apperr.Code
	}{
		{-1, 0, apperr.CodeInvalidInput},
		{0, 31 * time.Second, apperr.CodeInvalidInput},
		{0, -time.Second, apperr.CodeInvalidInput},
	} {
		_, err := e.svc.Watch(asUser("t1"), "rt-1", tt.after, tt.wait)
		wantCode(t, err, tt.code)
	}
	_, err := e.svc.Watch(asRuntime("t1", "rt-2"), "rt-1", 0, 0)
	wantCode(t, err, apperr.CodeForbidden)
}

func TestWatchEndsAtShutdownAndWhenTheClientLeaves(t *testing.T) {
	e := newEnv(t)
	e.director.set("t1", "rt-1", nil)
	mustCreate(t, asUser("t1"), e.svc, forRuntime("rt-1", httpBinding("log", "http://a")))

	ctx, cancel := context.WithCancel(asUser("t1"))
	gone := watch(ctx, e.svc, "rt-1", 1, 10*time.Second)
	closing := watch(asUser("t1"), e.svc, "rt-1", 1, 10*time.Second)
	settle()
	cancel()
	e.hub.Close()
	for name, ch := range map[string]<-chan watchResult{"client gone": gone, "shutdown": closing} {
		select {
		case r := <-ch:
			if name == "shutdown" && (r.err != nil || r.eff.Revision != 1) {
				t.Errorf("%s: %+v, %v", name, r.eff, r.err)
			}
			if name == "client gone" && r.err == nil {
				t.Errorf("%s: no error", name)
			}
		case <-time.After(time.Second):
			t.Fatalf("%s: the long-poll did not end", name)
		}
	}
}

// capture is a registry publisher that keeps what the relay publishes.
type capture chan []byte

func (c capture) Publish(_ context.Context, topic, _ string, data []byte) error {
	if topic == configuration.TopicChanged {
		c <- data
	}
	return nil
}

// A write on one replica wakes a long-poll on another through the configuration.changed event: the
// outbox relay publishes it, daprd delivers it to the subscription route, which wakes the hub.
func TestSubscriptionWakesAnotherReplica(t *testing.T) {
	e := newEnv(t)
	e.director.set("t1", "rt-1", nil)
	c := mustCreate(t, asUser("t1"), e.svc, forRuntime("rt-1", httpBinding("log", "http://a")))

	// The replica serving the agent: its own hub and subscription routes.
	mux := http.NewServeMux()
	(&notify.Subscriptions{Hub: e.hub, PubSub: "pubsub", Log: silent(),
		Topics: []notify.Topic{{Name: configuration.TopicChanged, Keys: configuration.WakeKeys}}}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// Drain what creating published, then start the long-poll.
	published := make(capture, 16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.reg.Relay(ctx, silent(), published, 10*time.Millisecond)
	<-published
	res := watch(asRuntime("t1", "rt-1"), e.svc, "rt-1", 1, 10*time.Second)
	settle()

	// The other replica writes: nothing in this process hears of it...
	other := e.replica()
	start := time.Now()
	if _, err := other.Update(asUser("t1"), c.ID, forRuntime("rt-1", httpBinding("log", "http://b"))); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-res:
		t.Fatalf("woke before the event arrived: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	// ... until daprd delivers the event, as a CloudEvent, to the subscription route.
	var data json.RawMessage
	select {
	case data = <-published:
	case <-time.After(time.Second):
		t.Fatal("the relay published nothing")
	}
	var ev configuration.ChangedEvent
	if err := json.Unmarshal(data, &ev); err != nil || ev.Tenant != "t1" || ev.ConfigurationID != c.ID || ev.Revision != 2 || ev.Target.RuntimeID != "rt-1" {
		t.Fatalf("event %s (%v)", data, err)
	}
	body, _ := json.Marshal(map[string]any{"specversion": "1.0", "type": configuration.TopicChanged, "datacontenttype": "application/json", "data": data})
	resp, err := http.Post(srv.URL+"/events/"+configuration.TopicChanged, "application/cloudevents+json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var status struct{ Status string }
	_ = json.NewDecoder(resp.Body).Decode(&status)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || status.Status != "SUCCESS" {
		t.Fatalf("subscription answered %d %q", resp.StatusCode, status.Status)
	}
	select {
	case r := <-res:
		if r.err != nil || r.eff.Revision != 2 {
			t.Fatalf("woke with %+v, %v", r.eff, r.err)
		}
		if d := r.at.Sub(start); d > time.Second {
			t.Errorf("woke %v after the write", d)
		}
	case <-time.After(time.Second):
		t.Fatal("the event did not wake the long-poll")
	}
}

// A long poll whose caller's assertion runs out while it waits still answers: with what it computed while
// the assertion was good, at the end of the wait or when woken, rather than an error the agent would
// report and back off from.
func TestWatchOutlivesTheCallersAssertion(t *testing.T) {
	for _, woken := range []bool{false, true} {
		e := newEnv(t)
		e.director.set("t1", "rt-1", map[string]any{"env": "dev"})
		c := mustCreate(t, asUser("t1"), e.svc, forRuntime("rt-1", httpBinding("log", "http://old")))
		res := watch(asRuntime("t1", "rt-1"), e.svc, "rt-1", 1, 300*time.Millisecond)
		settle()
		e.director.mu.Lock()
		e.director.refuse = apperr.New(apperr.CodeUnauthenticated, "caller assertion expired or not yet valid")
		e.director.mu.Unlock()
		if woken {
			if _, err := e.svc.Update(asUser("t1"), c.ID, forRuntime("rt-1", httpBinding("log", "http://new"))); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case r := <-res:
			if r.err != nil || r.eff == nil || r.eff.Revision != 1 {
				t.Fatalf("woken %v: answered %+v, %v; want revision 1 as computed before", woken, r.eff, r.err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("woken %v: no answer", woken)
		}
	}
	// Refused at once, before anything was computed, the refusal is the answer.
	e := newEnv(t)
	e.director.set("t1", "rt-1", nil)
	mustCreate(t, asUser("t1"), e.svc, forRuntime("rt-1", httpBinding("log", "http://old")))
	e.director.refuse = apperr.New(apperr.CodeUnauthenticated, "caller assertion expired or not yet valid")
	if _, err := e.svc.Watch(asRuntime("t1", "rt-1"), "rt-1", 1, time.Second); apperr.CodeOf(err) != apperr.CodeUnauthenticated {
		t.Fatalf("a poll refused from the start: %v", err)
	}
}
