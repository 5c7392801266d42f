package authn

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

type secrets map[string]ClientOwner

func (s secrets) VerifySecret(_ context.Context, id, secret string) (ClientOwner, error) {
	if id == "broken" {
		return ClientOwner{}, errors.New("connector answered 500 from 10.1.2.3:3002")
	}
	o, ok := s[id+":"+secret]
	if !ok {
		return ClientOwner{}, ErrBadClientSecret
	}
	return o, nil
}

func TestClientSecret(t *testing.T) {
	gin.SetMode(gin.TestMode)
	checker := secrets{"c1:s1": {Tenant: "t1", ConsumerID: "rt-1", ConsumerType: identity.ConsumerRuntime}}
	var got identity.Identity
	r := gin.New()
	r.GET("/x", OSBErrors(), Authenticate(ClientSecret{Clients: checker}), func(c *gin.Context) {
		got, _ = Identity(c)
		c.Status(http.StatusNoContent)
	})
	call := func(user, pass string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/x", nil)
		req.SetBasicAuth(user, pass)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec
	}

	if rec := call("c1", "s1"); rec.Code != http.StatusNoContent || got.Tenant != "t1" || got.Subject != "rt-1" ||
		got.ConsumerType != identity.ConsumerRuntime || !got.HasScope(identity.ScopeApplicationRead) {
		t.Fatalf("good pair: %d %+v", rec.Code, got)
	}
	for _, pass := range []string{"wrong", ""} {
		rec := call("c1", pass)
		if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), `"error":"Unauthenticated"`) {
			t.Fatalf("secret %q: %d %s", pass, rec.Code, rec.Body)
		}
	}
	// The Connector cannot answer: fail closed, retryable, and nothing of the inside in the answer.
	rec := call("broken", "x")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || strings.Contains(rec.Body.String(), "10.1.2.3") {
		t.Fatalf("unavailable: %d %s", rec.Code, rec.Body)
	}
}
