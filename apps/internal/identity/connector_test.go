package identity

import (
	"math/big"
	"net/http"
	"testing"
)

func TestConnectorHeadersTravelAndAreStripped(t *testing.T) {
	in := Identity{Tenant: "t1", Subject: "rt-1", ConsumerType: ConsumerRuntime, ConnectorToken: "tok", CertSerial: "ab12"}
	h := http.Header{}
	h.Set(HeaderConnectorToken, "forged")
	in.SetHeaders(h)
	if got := FromHeaders(h); got.ConnectorToken != "tok" || got.CertSerial != "ab12" || got.Subject != "rt-1" {
		t.Fatalf("round trip: %+v", got)
	}
	StripHeaders(h)
	if got := FromHeaders(h); got.ConnectorToken != "" || got.CertSerial != "" {
		t.Fatalf("not stripped: %+v", got)
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
