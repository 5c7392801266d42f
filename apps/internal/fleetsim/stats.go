package fleetsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/gqlclient"
)

// Durations are measured latencies.
type Durations []time.Duration

// Percentile returns the p-th percentile (0 < p ≤ 1, nearest rank), or 0 for none.
func (d Durations) Percentile(p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Max returns the largest, or 0 for none.
func (d Durations) Max() time.Duration {
	if len(d) == 0 {
		return 0
	}
	return slices.Max(d)
}

// Ms is d in milliseconds, for b.ReportMetric.
func Ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Classify names the kind of failure err is, coarsely enough that counts of each say what broke: the
// gateway's or an app's error code, an HTTP status without one, or what the network said.
func Classify(err error) string {
	var ge *gqlclient.Error
	var se *gqlclient.StatusError
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ge):
		if ge.Code != "" {
			return ge.Code
		}
		return "graphql error"
	case errors.As(err, &se):
		return fmt.Sprintf("http %d", se.Status)
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too many open files"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no local port"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "other"
}

// Errors counts failures by phase, operation and class, keeping the first message of each class.
type Errors struct {
	mu      sync.Mutex
	counts  map[string]int
	example map[string]string
}

// Add counts err (nil is ignored) of operation op in phase.
func (e *Errors) Add(phase, op string, err error) {
	if err == nil {
		return
	}
	key := phase + "\t" + op + "\t" + Classify(err)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.counts == nil {
		e.counts, e.example = map[string]int{}, map[string]string{}
	}
	e.counts[key]++
	if _, ok := e.example[key]; !ok {
		msg := err.Error()
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		e.example[key] = msg
	}
}

// Total is the number of failures counted in phase ("" for all phases).
func (e *Errors) Total(phase string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for k, c := range e.counts {
		if phase == "" || strings.HasPrefix(k, phase+"\t") {
			n += c
		}
	}
	return n
}

// Summary lists the counts, most frequent first, one line each: phase, operation, class, count, and the
// first message of the class.
func (e *Errors) Summary() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	keys := make([]string, 0, len(e.counts))
	for k := range e.counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if e.counts[keys[i]] != e.counts[keys[j]] {
			return e.counts[keys[i]] > e.counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		f := strings.SplitN(k, "\t", 3)
		out = append(out, fmt.Sprintf("%-8s %-10s %-22s %6d  %s", f[0], f[1], f[2], e.counts[k], e.example[k]))
	}
	return out
}

// Calls keeps the latency of successful calls of one operation, with when each started, so that a
// window can be cut out of them afterwards.
type Calls struct {
	mu    sync.Mutex
	start []time.Time
	took  []time.Duration
}

// Add records a call that started at start and took took.
func (c *Calls) Add(start time.Time, took time.Duration) {
	c.mu.Lock()
	c.start = append(c.start, start)
	c.took = append(c.took, took)
	c.mu.Unlock()
}

// Between returns the latencies of the calls started in [from, to).
func (c *Calls) Between(from, to time.Time) Durations {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out Durations
	for i, s := range c.start {
		if !s.Before(from) && s.Before(to) {
			out = append(out, c.took[i])
		}
	}
	return out
}
