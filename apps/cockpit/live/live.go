// Package live tells open pages that something they show has changed, as server-sent events fed by the
// plane's pub/sub events (see main's subscriptions). What a page learns is only "the runtime (or
// application, or operation's runtime) with this ID changed"; it then asks for the fresh view through the
// gateway with its user's token like any other page. So a page can only watch IDs the Cockpit itself put
// on it — the list is signed with a key the session keeps on the server — and no event carries another
// tenant's data to anyone.
package live

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Hub fans events out to the pages watching their IDs, and remembers the latest changes so that a page
// that reconnects (with the time of the last event it saw) or has just been rendered misses none.
type Hub struct {
	mu       sync.Mutex
	watchers map[string]map[chan change]struct{}
	recent   []change // a ring of the last len(recent) changes, oldest first once full
	next     int
	full     bool
	// started is when the hub began to remember: a page asking from before it may have missed changes.
	started int64
}

// change is one ID that changed, and when: the time is the event's ID on the stream.
type change struct {
	at int64 // Unix nanoseconds
	id string
}

// remembered is how many changes the hub keeps for pages that reconnect.
const remembered = 4096

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{watchers: map[string]map[chan change]struct{}{}, recent: make([]change, remembered), started: time.Now().UnixNano()}
}

// Changed tells every page watching id. A page that is not reading (a slow client) misses the nudge
// rather than holding the hub up; it finds the change among the recent ones when it reconnects.
func (h *Hub) Changed(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := change{at: time.Now().UnixNano(), id: id}
	h.recent[h.next] = c
	h.next = (h.next + 1) % len(h.recent)
	h.full = h.full || h.next == 0
	for ch := range h.watchers[id] {
		select {
		case ch <- c:
		default:
		}
	}
}

// since returns the changes of ids after t, and false when t is older than the oldest change remembered
// (the page may have missed some).
func (h *Hub) since(ids []string, t int64) ([]change, bool) {
	var out []change
	complete := t >= h.started
	n := h.next
	if h.full {
		n = len(h.recent)
		complete = complete && h.recent[h.next].at <= t
	}
	for i := range n {
		c := h.recent[(h.next-n+i+len(h.recent))%len(h.recent)]
		if c.at > t && slices.Contains(ids, c.id) {
			out = append(out, c)
		}
	}
	return out, complete
}

func (h *Hub) watch(ids []string) (chan change, func()) {
	ch := make(chan change, 16)
	for _, id := range ids {
		if h.watchers[id] == nil {
			h.watchers[id] = map[chan change]struct{}{}
		}
		h.watchers[id][ch] = struct{}{}
	}
	return ch, func() {
		h.mu.Lock()
		for _, id := range ids {
			delete(h.watchers[id], ch)
			if len(h.watchers[id]) == 0 {
				delete(h.watchers, id)
			}
		}
		h.mu.Unlock()
	}
}

// MaxIDs caps what one page may watch: a page never shows more than one list page of objects.
const MaxIDs = 200

// Sign makes the token a page passes to Serve to watch ids, with the session's server-side key.
func Sign(key string, ids []string) string {
	list := strings.Join(ids, ",")
	return base64.RawURLEncoding.EncodeToString([]byte(list)) + "." + mac(key, list)
}

// Verify returns the IDs a token names, if key signed it.
func Verify(key, token string) ([]string, error) {
	enc, sig, ok := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if !ok || err != nil || !hmac.Equal([]byte(sig), []byte(mac(key, string(raw)))) {
		return nil, errors.New("not a watch token of this session")
	}
	ids := strings.Split(string(raw), ",")
	if len(ids) > MaxIDs {
		return nil, fmt.Errorf("more than %d IDs", MaxIDs)
	}
	return slices.DeleteFunc(ids, func(s string) bool { return s == "" }), nil
}

func mac(key, list string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(list))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Serve answers a page's event stream for ids: the changes after the last event the browser saw
// (Last-Event-ID) or, on its first connection, after the page was rendered (since, Unix nanoseconds).
//
// Each answer ends after the first changes it carries, or after maxAge with none, so that no stream
// outlives the limits of what it crosses (the gateway's upstream timeout, two sidecars, any proxy in
// front), and so that it works through a hop that passes answers on only once they are complete, as
// daprd 1.16 did. The browser's EventSource reconnects by itself after the retry delay, with the ID of the
// last event, so a change that happens in between is sent on the next connection and none is missed.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, ids []string, since int64, maxAge time.Duration) {
	from := since
	if last, err := strconv.ParseInt(r.Header.Get("Last-Event-Id"), 10, 64); err == nil {
		from = last
	}
	h.mu.Lock()
	missed, complete := h.since(ids, from)
	ch, stop := h.watch(ids)
	h.mu.Unlock()
	defer stop()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 250\n\n")
	if !complete {
		// Older than anything remembered: tell the page that everything it shows may have changed.
		missed = missed[:0]
		for _, id := range ids {
			missed = append(missed, change{at: time.Now().UnixNano(), id: id})
		}
	}
	if len(missed) == 0 {
		end := time.NewTimer(maxAge)
		defer end.Stop()
		select {
		case <-r.Context().Done():
			return
		case <-end.C:
			return
		case c := <-ch:
			missed = append(missed, c)
		}
		// Changes come in bursts (a stage, then its runtime): take what follows closely in the same answer.
		settle := time.NewTimer(100 * time.Millisecond)
		defer settle.Stop()
	gather:
		for {
			select {
			case c := <-ch:
				missed = append(missed, c)
			case <-settle.C:
				break gather
			}
		}
	}
	for _, c := range missed {
		fmt.Fprintf(w, "id: %d\nevent: changed\ndata: %s\n\n", c.at, c.id)
	}
}
