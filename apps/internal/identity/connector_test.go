package identity

import (
	"math/big"
	"net/http"
	"testing"
)

func TestStripHeaders(t *testing.T) {
	h := http.Header{}
	h.Set("X-Mp-Assertion", "forged")
	h.Set("x-mp-tenant", "victim")
	h.Set("Content-Type", "application/json")
	StripHeaders(h)
	if len(h) != 1 || h.Get("Content-Type") == "" {
		t.Fatalf("after StripHeaders: %v", h)
	}
}

func TestSerialHex(t *testing.T) {
	n, _ := new(big.Int).SetString("00ABcd01", 16)
	if got := SerialHex(n); got != "abcd01" {
		t.Fatalf("SerialHex = %q", got)
	}
	if SerialHex(nil) != "" {
		t.Fatal("nil serial")
	}
}
