package authn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/gateway/authn"
	"github.com/mgmtplane/mgmtplane/apps/internal/devtoken"
)

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	local := devtoken.LocalKey{Dir: dir}
	if err := local.Ensure(); err != nil {
		t.Fatal(err)
	}
	v := &authn.Verifier{Keys: &authn.FileKeys{Path: local.JWKSPath()}}
	ctx := context.Background()

	good, err := local.Sign("acme", "alice", []string{"application:read", "application:write"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	if id.Tenant != "acme" || id.Subject != "alice" || len(id.Scopes) != 2 || id.ConsumerType != "USER" {
		t.Fatalf("identity %+v", id)
	}

	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	wrongKey, _ := devtoken.SignES256(other, "acme", "mallory", nil, time.Hour)
	expired, _ := local.Sign("acme", "alice", nil, -time.Hour)
	noTenant, _ := local.Sign("", "alice", nil, time.Hour)
	for name, tc := range map[string]struct {
		token string
		want  error
	}{
		"wrong key":   {wrongKey, authn.ErrBadSignature},
		"expired":     {expired, authn.ErrExpired},
		"no tenant":   {noTenant, authn.ErrNoTenant},
		"not a token": {"abc.def", authn.ErrBadToken},
		"alg none":    {"eyJhbGciOiJub25lIn0.eyJ0ZW5hbnQiOiJhY21lIn0.", authn.ErrBadToken},
	} {
		if _, err := v.Verify(ctx, tc.token); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	// A second Ensure keeps the key: tokens issued before stay valid.
	if err := local.Ensure(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, good); err != nil {
		t.Fatalf("key changed on second Ensure: %v", err)
	}
}
