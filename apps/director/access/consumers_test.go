package access

import (
	"context"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// A root field open to applications or runtimes must exist with a scope: a misspelt name would open nothing
// and fail silently.
func TestConsumerFieldsHaveScopes(t *testing.T) {
	for typ, fields := range allowedFor {
		for _, f := range fields {
			if _, ok := scopeOf[f]; !ok {
				t.Errorf("%s callers may use %q, which has no scope", typ, f)
			}
		}
	}
}

func TestOwnApplication(t *testing.T) {
	as := func(typ, subject string) context.Context {
		return identity.NewContext(context.Background(), identity.Identity{Tenant: "t1", Subject: subject, ConsumerType: typ})
	}
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		allowed bool
	}{
		{"a user", as(identity.ConsumerUser, "someone"), true},
		{"an integration system", as(identity.ConsumerIntegrationSystem, "is"), true},
		{"the application itself", as(identity.ConsumerApplication, "app"), true},
		{"another application", as(identity.ConsumerApplication, "other"), false},
		{"an application without a subject", as(identity.ConsumerApplication, ""), false},
		{"a runtime", as(identity.ConsumerRuntime, "app"), false},
	} {
		err := OwnApplication(tc.ctx, "app")
		if tc.allowed && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.allowed && (apperr.CodeOf(err) != apperr.CodeForbidden || err.Error() != "The operation is not allowed") {
			t.Errorf("%s: want NotAllowed, got %v", tc.name, err)
		}
	}
}
