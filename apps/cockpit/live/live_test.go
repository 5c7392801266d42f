package live

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	tok := Sign("key", []string{"a", "b"})
	ids, err := Verify("key", tok)
	if err != nil || strings.Join(ids, ",") != "a,b" {
		t.Fatalf("Verify: %v %v", ids, err)
	}
	if _, err := Verify("other session's key", tok); err == nil {
		t.Error("a token of another session was accepted")
	}
	forged := Sign("attacker's key", []string{"a", "c"})
	_, sig, _ := strings.Cut(tok, ".")
	enc, _, _ := strings.Cut(forged, ".")
	if _, err := Verify("key", enc+"."+sig); err == nil {
		t.Error("IDs swapped under a valid signature were accepted")
	}
	many := make([]string, MaxIDs+1)
	for i := range many {
		many[i] = strconv.Itoa(i)
	}
	if _, err := Verify("key", Sign("key", many)); err == nil {
		t.Error("more than MaxIDs were accepted")
	}
}

// serve answers one stream request for ids and returns its body.
func serve(h *Hub, ids []string, since int64, lastEventID string, maxAge time.Duration) string {
	r := httptest.NewRequest(http.MethodGet, "/live", nil)
	if lastEventID != "" {
		r.Header.Set("Last-Event-Id", lastEventID)
	}
	rec := httptest.NewRecorder()
	h.Serve(rec, r, ids, since, maxAge)
	return rec.Body.String()
}

func TestAChangeEndsTheAnswer(t *testing.T) {
	h := NewHub()
	since := time.Now().UnixNano()
	go func() {
		time.Sleep(50 * time.Millisecond)
		h.Changed("other")
		h.Changed("rt-1")
	}()
	start := time.Now()
	body := serve(h, []string{"rt-1"}, since, "", 10*time.Second)
	if time.Since(start) > 5*time.Second {
		t.Error("the answer waited for maxAge although a change came")
	}
	if !strings.Contains(body, "event: changed\ndata: rt-1\n") || strings.Contains(body, "other") || !strings.HasPrefix(body, "retry: ") {
		t.Errorf("body %q", body)
	}
}

func TestNothingChangedEndsAtMaxAge(t *testing.T) {
	body := serve(NewHub(), []string{"rt-1"}, time.Now().UnixNano(), "", 20*time.Millisecond)
	if strings.Contains(body, "event:") {
		t.Errorf("body %q", body)
	}
}

// A page reconnecting with the last event it saw, or connecting for the first time after being rendered,
// gets the changes it missed at once — and not those it already had.
func TestMissedChangesComeOnReconnect(t *testing.T) {
	h := NewHub()
	rendered := time.Now().UnixNano()
	h.Changed("rt-1")
	first := serve(h, []string{"rt-1"}, rendered, "", time.Second)
	id := strings.TrimPrefix(strings.Split(first, "\n")[2], "id: ")
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		t.Fatalf("first answer %q has no event id", first)
	}
	h.Changed("rt-1")
	second := serve(h, []string{"rt-1"}, rendered, id, time.Second)
	if strings.Count(second, "event: changed") != 1 || strings.Contains(second, "id: "+id+"\n") {
		t.Errorf("after %s: %q", id, second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	r := httptest.NewRequest(http.MethodGet, "/live", nil).WithContext(ctx)
	r.Header.Set("Last-Event-Id", strings.TrimPrefix(strings.Split(second, "\n")[2], "id: "))
	rec := httptest.NewRecorder()
	h.Serve(rec, r, []string{"rt-1"}, rendered, time.Second)
	if strings.Contains(rec.Body.String(), "event:") {
		t.Errorf("a change was sent twice: %q", rec.Body.String())
	}
}

// A page older than what the hub remembers (it restarted, or too much changed since) is told that
// everything it shows may have changed.
func TestTooOldRefreshesEverything(t *testing.T) {
	h := NewHub()
	body := serve(h, []string{"a", "b"}, h.started-1, "", time.Second)
	if !strings.Contains(body, "data: a\n") || !strings.Contains(body, "data: b\n") {
		t.Errorf("body %q", body)
	}
	for range remembered + 1 {
		h.Changed("x")
	}
	last := time.Now().UnixNano()
	h.Changed("a")
	if body := serve(h, []string{"a"}, last, "", time.Second); strings.Count(body, "data: a") != 1 {
		t.Errorf("within memory: %q", body)
	}
	if body := serve(h, []string{"b"}, h.started, "", time.Second); !strings.Contains(body, "data: b") {
		t.Errorf("beyond memory: %q", body)
	}
}
