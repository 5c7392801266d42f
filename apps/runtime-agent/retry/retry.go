// Package retry paces repeated attempts: exponential backoff with jitter, so that many runtimes that lost
// the management plane at the same moment do not all come back at the same moment.
package retry

import (
	"math/rand/v2"
	"time"
)

// Backoff yields growing delays from Min to Max. The zero value is not usable; use New.
type Backoff struct {
	min, max, next time.Duration
}

// New returns a backoff starting at min and doubling up to max.
func New(min, max time.Duration) *Backoff {
	return &Backoff{min: min, max: max, next: min}
}

// Next returns the delay before the next attempt: the current step with ±20% jitter. Each call doubles
// the step, up to the maximum.
func (b *Backoff) Next() time.Duration {
	d := b.next
	b.next = min(b.next*2, b.max)
	jitter := time.Duration(float64(d) * 0.2 * (2*rand.Float64() - 1))
	return d + jitter
}

// Reset starts again from the minimum, after a success.
func (b *Backoff) Reset() { b.next = b.min }
