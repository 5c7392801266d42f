// Package freeport hands out loopback ports for processes the plane starts itself: the end-to-end stack's
// sidecars and apps, and the sidecars of local runtimes the Provisioner creates.
package freeport

import (
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"sync"
)

// Ports come from just below the kernel's ephemeral range. A port the kernel
// hands out for ":0" lies inside that range, where any outgoing connection may take it in the moment
// between our check and daprd's bind (seen in CI: "bind: address already in use"). Below the range only
// other listeners compete, and the listen check sees those that are already there.
var ports struct {
	sync.Mutex
	low, high, next int
	handed          map[int]bool
}

// Port returns a port nobody listens on, never the same one twice in a process.
func Port() (int, error) {
	ports.Lock()
	defer ports.Unlock()
	if ports.handed == nil {
		ports.high = ephemeralLow()
		ports.low = max(ports.high-12000, 10000)
		ports.next = ports.low + mrand.IntN(ports.high-ports.low)
		ports.handed = map[int]bool{}
	}
	for range ports.high - ports.low {
		p := ports.next
		if ports.next++; ports.next >= ports.high {
			ports.next = ports.low
		}
		if ports.handed[p] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
		if err != nil {
			continue
		}
		_ = l.Close()
		ports.handed[p] = true
		return p, nil
	}
	return 0, errors.New("freeport: no free port below the ephemeral range")
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's default when it cannot be read).
func ephemeralLow() int {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var lo, hi int
		if n, _ := fmt.Sscan(string(b), &lo, &hi); n == 2 && lo > 11000 {
			low = lo
		}
	}
	return low
}
