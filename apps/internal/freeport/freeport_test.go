package freeport

import (
	"fmt"
	"net"
	"testing"
)

func TestPortStaysBelowTheEphemeralRangeAndNeverRepeats(t *testing.T) {
	high := ephemeralLow()
	seen := map[int]bool{}
	for range 200 {
		p, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		if p >= high || p < 10000 {
			t.Fatalf("port %d outside [10000, %d)", p, high)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
	// A port someone listens on is skipped: listen on the next candidate, then ask.
	ports.Lock()
	var l net.Listener
	for x := ports.low; x < ports.high && l == nil; x++ {
		if ports.handed[x] {
			continue
		}
		if ln, err := net.Listen("tcp", fmt.Sprintf(":%d", x)); err == nil {
			l, ports.next = ln, x
		}
	}
	ports.Unlock()
	if l == nil {
		t.Fatal("no port to listen on")
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	q, err := Port()
	if err != nil {
		t.Fatal(err)
	}
	if q == taken {
		t.Fatalf("port %d is listened on but was handed out", q)
	}
}
