package pairing_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/director/directortest"
	"github.com/mgmtplane/mgmtplane/apps/director/pairing"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// fakeConnector answers the Director's calls as the Connector does: a token per request, one client of
// app-1, revocation, and NOT_FOUND for clients it does not know.
type fakeConnector struct{ issued, revoked int }

func (f *fakeConnector) Do(_ context.Context, _, httpMethod, method string, _ http.Header, body io.Reader) (*http.Response, error) {
	rec := httptest.NewRecorder()
	switch {
	case httpMethod == http.MethodPost && method == "tokens":
		f.issued++
		_ = json.NewEncoder(rec).Encode(pairing.Token{Token: "tok", ConnectorURL: "https://c", ExpiresAt: "2030-01-01T00:00:00Z"})
	case httpMethod == http.MethodPost && method == "clients/query":
		var q struct{ Owners []pairing.Owner }
		_ = json.NewDecoder(body).Decode(&q)
		var out struct {
			Clients []pairing.Client `json:"clients"`
		}
		for _, o := range q.Owners {
			if o.ConsumerID == "app-1" {
				out.Clients = append(out.Clients, pairing.Client{ClientID: "client-1", URL: "https://t", Owner: o})
			}
		}
		_ = json.NewEncoder(rec).Encode(out)
	case httpMethod == http.MethodPost && method == "owners/revoke":
		f.revoked++
	default:
		rec.WriteHeader(http.StatusNotFound)
		_, _ = rec.WriteString(`{"code":"NOT_FOUND","message":"client not found"}`)
	}
	return rec.Result(), nil
}

func caller(tenant string) context.Context {
	return assertion.NewContext(directortest.Tenant(tenant), "assertion")
}

func ids(as []pairing.SystemAuth) (out []string) {
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

// Every one-time token issued shows in its owner's auths, after its client credentials, as in Compass
// (issue 9, missing behaviour 6); the entries can be deleted and go with their owner.
func TestOneTimeTokensInAuths(t *testing.T) {
	conn := &fakeConnector{}
	svc := pairing.NewService(conn, "connector", directortest.Registry())
	ctx := caller("t1")
	for range 3 {
		if _, err := svc.Issue(ctx, identity.ConsumerApplication, "app-1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Issue(ctx, identity.ConsumerRuntime, "rt-1"); err != nil {
		t.Fatal(err)
	}
	auths, err := svc.SystemAuths(ctx, identity.ConsumerApplication, []string{"app-1", "app-2"})
	if err != nil {
		t.Fatal(err)
	}
	app1 := auths["app-1"]
	if len(app1) != 4 || app1[0].Client == nil || app1[0].ID != "client-1" || len(auths["app-2"]) != 0 {
		t.Fatalf("auths of app-1: %+v; of app-2: %+v", app1, auths["app-2"])
	}
	for _, a := range app1[1:] {
		if a.Client != nil || a.Token == nil || a.Token.ConsumerID != "app-1" || a.Token.ExpiresAt == "" {
			t.Fatalf("token entry %+v", a)
		}
	}
	// Another tenant, or the runtimes of this one, see none of them.
	if other, err := svc.SystemAuths(caller("t2"), identity.ConsumerApplication, []string{"app-1"}); err != nil || len(other["app-1"]) != 1 {
		t.Fatalf("other tenant: %+v, %v", other, err)
	}
	rts, err := svc.SystemAuths(ctx, identity.ConsumerRuntime, []string{"rt-1"})
	if err != nil || len(rts["rt-1"]) != 1 {
		t.Fatalf("runtime rt-1: %+v, %v", rts, err)
	}

	// A token entry is deleted as a system auth of its owner's type, not of another.
	tokenID := app1[1].ID
	if _, err := svc.DeleteSystemAuth(ctx, identity.ConsumerRuntime, tokenID); apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Fatalf("delete an application's token entry as a runtime's: %v", err)
	}
	if a, err := svc.DeleteSystemAuth(ctx, identity.ConsumerApplication, tokenID); err != nil || a.ID != tokenID || a.Client != nil {
		t.Fatalf("delete token entry: %+v, %v", a, err)
	}
	if _, err := svc.DeleteSystemAuth(ctx, identity.ConsumerApplication, tokenID); apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Fatalf("delete it again: %v", err)
	}
	auths, _ = svc.SystemAuths(ctx, identity.ConsumerApplication, []string{"app-1"})
	if got := strings.Join(ids(auths["app-1"]), ","); len(auths["app-1"]) != 3 || strings.Contains(got, tokenID) {
		t.Fatalf("after delete: %s", got)
	}

	// Unregistering revokes at the Connector and drops the records.
	if err := svc.RevokeAll(ctx, identity.ConsumerApplication, "app-1"); err != nil {
		t.Fatal(err)
	}
	auths, _ = svc.SystemAuths(ctx, identity.ConsumerApplication, []string{"app-1"})
	if conn.revoked != 1 || len(auths["app-1"]) != 1 {
		t.Fatalf("after RevokeAll: revoked %d, auths %+v", conn.revoked, auths["app-1"])
	}
	if rts, _ := svc.SystemAuths(ctx, identity.ConsumerRuntime, []string{"rt-1"}); len(rts["rt-1"]) != 1 {
		t.Fatalf("the runtime's record went too: %+v", rts)
	}
}
