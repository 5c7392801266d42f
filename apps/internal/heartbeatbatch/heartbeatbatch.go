// Package heartbeatbatch is the format in which the gateway hands runtimes' heartbeats to the Director in
// batches.
//
// A fleet's agents each beat every few seconds: at 1,000 runtimes about 100 heartbeats a second. Sent one
// by one, each crossed the gateway's sidecar, the Director's sidecar and the Director's GraphQL server, which
// made heartbeats most of the plane's work at steady state although each only moves a timestamp. So the
// gateway authenticates each heartbeat as it arrives, holds it for a short window, and passes the window's
// heartbeats on in one service invocation; every agent is answered once the Director has recorded its
// heartbeat, so an acknowledged heartbeat is a stored one.
//
// Each item carries the assertion the gateway signed for that runtime (package assertion), and the
// Director verifies every one: a batch vouches for nothing by itself, the runtimes in it do.
package heartbeatbatch

// Method is the Director's method (its route) that takes a batch. Its access policy lets only the gateway
// call it.
const Method = "heartbeats"

// MaxItems bounds a batch; the Director refuses bigger ones.
const MaxItems = 512

// Request is a batch: the heartbeats of one window, in the order they arrived.
type Request struct {
	Heartbeats []Item `json:"heartbeats"`
}

// Item is one runtime's heartbeat: the runtime it is for and the caller's assertion, addressed to the
// Director.
type Item struct {
	RuntimeID string `json:"runtimeID"`
	Assertion string `json:"assertion"`
}

// Response answers a batch with one result per item, in the items' order.
type Response struct {
	Results []Result `json:"results"`
}

// Result is the outcome of one heartbeat: empty Code when it was recorded, otherwise the Director's error
// code (apperr) and a message the runtime may see.
type Result struct {
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// OK reports whether the heartbeat was recorded.
func (r Result) OK() bool { return r.Code == "" }
