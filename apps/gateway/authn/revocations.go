package authn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/expiring"
)

// TopicCertificateRevoked is the Connector's event for a certificate that stopped being good (revoked
// itself, or with its application or runtime). Its data carries the certificate's serial.
const TopicCertificateRevoked = "certificate.revoked"

// RevocationCache remembers, per certificate serial, that the Connector knew the certificate and had not
// revoked it, so that the gateway does not ask on every request of the same client. An entry lives at most
// a TTL, and the Connector's certificate.revoked event drops it at once (HandleRevoked): a revocation
// takes effect as soon as the event arrives, and a lost event is bounded by the TTL. Only good answers are
// kept; revoked or unknown certificates and failed questions are asked about again on the next request.
// Concurrent requests with the same certificate that miss share one question.
type RevocationCache struct {
	checker RevocationChecker
	ttl     time.Duration
	size    int
	now     func() time.Time

	mu      sync.Mutex // guards good (swapped by Clear) and flights, and orders Put against Drop
	good    *expiring.Map[string, struct{}]
	flights map[string]*revocationFlight
}

// revocationFlight is one question to the Connector that other requests wait for.
type revocationFlight struct {
	done    chan struct{}
	revoked bool
	err     error
	// stale is set when a revocation event for the serial arrived while the question was out: the answer
	// may have been read before the revocation was written, so nobody may take it.
	stale bool
}

// NewRevocationCache returns a cache in front of checker holding at most size serials, each for at most
// ttl. A ttl of zero or less turns the cache off: every request asks checker.
func NewRevocationCache(checker RevocationChecker, ttl time.Duration, size int) *RevocationCache {
	return &RevocationCache{checker: checker, ttl: ttl, size: size, now: time.Now,
		good: expiring.New[string, struct{}](size), flights: map[string]*revocationFlight{}}
}

// Revoked implements RevocationChecker.
func (c *RevocationCache) Revoked(ctx context.Context, serial string) (bool, error) {
	if c.ttl <= 0 {
		return c.checker.Revoked(ctx, serial)
	}
	key := serialKey(serial)
	c.mu.Lock()
	if _, ok := c.good.Get(key, c.now()); ok {
		c.mu.Unlock()
		return false, nil
	}
	f, waiting := c.flights[key]
	if !waiting {
		f = &revocationFlight{done: make(chan struct{})}
		c.flights[key] = f
	}
	c.mu.Unlock()

	if waiting {
		select {
		case <-f.done:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		// The request that asked may have ended (its context), which says nothing about this one; and an
		// answer overtaken by a revocation event is asked again. Any other failure is shared: a failing
		// Connector is not asked once more per waiting request.
		if f.stale || (f.err != nil && isContextErr(f.err) && ctx.Err() == nil) {
			return c.checker.Revoked(ctx, serial)
		}
		return f.revoked, f.err
	}

	revoked, err := c.checker.Revoked(ctx, serial)
	c.mu.Lock()
	if c.flights[key] == f {
		delete(c.flights, key)
	}
	stale := f.stale
	if err == nil && !revoked && !stale {
		now := c.now()
		c.good.Put(key, struct{}{}, now.Add(c.ttl), now)
	}
	f.revoked, f.err = revoked, err
	c.mu.Unlock()
	close(f.done)
	if stale {
		return c.checker.Revoked(ctx, serial)
	}
	return revoked, err
}

// Drop forgets the serial, and makes a question about it that is under way not count: its answer may be
// older than the revocation.
func (c *RevocationCache) Drop(serial string) {
	key := serialKey(serial)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.good.Delete(key)
	if f, ok := c.flights[key]; ok {
		f.stale = true
		delete(c.flights, key)
	}
}

// Clear forgets every serial, for when a revocation was announced but its serial cannot be read.
func (c *RevocationCache) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.good = expiring.New[string, struct{}](c.size)
	for key, f := range c.flights {
		f.stale = true
		delete(c.flights, key)
	}
}

// Len returns how many serials the cache holds (lapsed ones included until they are dropped).
func (c *RevocationCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.good.Len()
}

// ErrUnreadableEvent marks a certificate.revoked event whose serial could not be read: delivering it
// again would not help.
var ErrUnreadableEvent = errors.New("unreadable certificate.revoked event")

// HandleRevoked receives a certificate.revoked event (the data of the CloudEvent) and drops its serial. The
// serial alone decides, whatever tenant the event names: serials are unique across tenants, and the cache
// holds them without one. An event whose serial cannot be read clears the whole cache instead, since the
// certificate it concerns is unknown, and returns ErrUnreadableEvent.
func (c *RevocationCache) HandleRevoked(_ context.Context, data []byte) error {
	var ev struct {
		Serial string `json:"serial"`
	}
	err := json.Unmarshal(data, &ev)
	if err == nil && serialKey(ev.Serial) == "" {
		err = errors.New("no serial")
	}
	if err != nil {
		c.Clear()
		return fmt.Errorf("%w: %v; forgot every certificate instead", ErrUnreadableEvent, err)
	}
	c.Drop(ev.Serial)
	return nil
}

// serialKey is the one spelling of a hexadecimal serial (identity.SerialHex's): lower case, without ':'
// separators or leading zeros, so that the gateway's and the Connector's spellings meet.
func serialKey(serial string) string {
	s := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(serial), ":", ""))
	return strings.TrimLeft(s, "0")
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
