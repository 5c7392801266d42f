package e2e

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

const contextTenant = "tenant-runtimecontext"

// pairedRuntime registers a runtime as the tenant's admin, pairs it through the Connector and returns its id
// and an HTTP client presenting its certificate.
func pairedRuntime(t *testing.T, name string, labels map[string]any) (string, *http.Client) {
	t.Helper()
	var rt struct{ RegisterRuntime struct{ ID string } }
	ok(t, gql(t, contextTenant, `mutation($in: RuntimeInput!) { registerRuntime(in: $in) { id } }`,
		map[string]any{"in": map[string]any{"name": name, "labels": labels}}), &rt)
	id := rt.RegisterRuntime.ID
	var tok struct{ RequestOneTimeTokenForRuntime struct{ Token string } }
	ok(t, gql(t, contextTenant, `mutation($id: ID!) { requestOneTimeTokenForRuntime(id: $id) { token } }`,
		map[string]any{"id": id}), &tok)
	cred, err := connector().Pair(context.Background(), tok.RequestOneTimeTokenForRuntime.Token)
	if err != nil {
		t.Fatalf("pair runtime %s: %v", name, err)
	}
	if cred.ConsumerID != id || cred.ConsumerType != "RUNTIME" || cred.Tenant != contextTenant {
		t.Fatalf("certificate for %+v", cred)
	}
	return id, mtls(t, cred)
}

type rtContext struct {
	ID     string         `json:"id"`
	Key    string         `json:"key"`
	Value  string         `json:"value"`
	Labels map[string]any `json:"labels"`
}

type rtContextPage struct {
	RuntimeContexts struct {
		Data       []rtContext `json:"data"`
		TotalCount int         `json:"totalCount"`
		PageInfo   struct {
			EndCursor   string `json:"endCursor"`
			HasNextPage bool   `json:"hasNextPage"`
		} `json:"pageInfo"`
	} `json:"runtimeContexts"`
}

const (
	registerContext = `mutation($in: RuntimeContextInput!) { registerRuntimeContext(in: $in) { id key value labels } }`
	updateContext   = `mutation($id: ID!, $in: RuntimeContextInput!) { updateRuntimeContext(id: $id, in: $in) { id key value } }`
	getContext      = `query($id: ID!) { runtimeContext(id: $id) { id key value labels } }`
	listContexts    = `query($filter: [LabelFilter!], $first: Int, $after: PageCursor) {
  runtimeContexts(filter: $filter, first: $first, after: $after) {
    data { id key value labels } totalCount pageInfo { endCursor hasNextPage }
  }
}`
)

func contextKeys(p rtContextPage) []string {
	var out []string
	for _, c := range p.RuntimeContexts.Data {
		out = append(out, c.Key)
	}
	return out
}

func TestRuntimeContextsBelongToTheirRuntime(t *testing.T) {
	rtA, a := pairedRuntime(t, "ctx-runtime-a", map[string]any{"runtime_eventServiceUrl": "https://events.a.example.com"})
	_, b := pairedRuntime(t, "ctx-runtime-b", nil)
	// Runtime A registers two contexts and lists them.
	var reg struct{ RegisterRuntimeContext rtContext }
	ok(t, secure(t, a, "/director/graphql", registerContext, map[string]any{"in": map[string]any{
		"key": "ns-prod", "value": "production", "labels": map[string]any{"env": "prod"}}}), &reg)
	prodCtx := reg.RegisterRuntimeContext
	if prodCtx.ID == "" || prodCtx.Key != "ns-prod" || prodCtx.Value != "production" || prodCtx.Labels["env"] != "prod" {
		t.Fatalf("registered %+v", prodCtx)
	}
	ok(t, secure(t, a, "/director/graphql", registerContext, map[string]any{"in": map[string]any{
		"key": "ns-dev", "value": "development", "labels": map[string]any{"env": "dev"}}}), nil)

	var page rtContextPage
	ok(t, secure(t, a, "/director/graphql", listContexts, map[string]any{"first": 10}), &page)
	if page.RuntimeContexts.TotalCount != 2 || !slices.Equal(contextKeys(page), []string{"ns-prod", "ns-dev"}) {
		t.Fatalf("runtime A lists %+v", page.RuntimeContexts)
	}
	var got struct{ RuntimeContext *rtContext }
	ok(t, secure(t, a, "/director/graphql", getContext, map[string]any{"id": prodCtx.ID}), &got)
	if got.RuntimeContext == nil || got.RuntimeContext.Key != "ns-prod" {
		t.Fatalf("runtime A reads %+v", got.RuntimeContext)
	}
	var one struct{ RuntimeContext *rtContext }
	ok(t, secure(t, a, "/director/graphql", `query($id: ID!) { runtimeContext(id: $id) { id labels(key: "missing") } }`,
		map[string]any{"id": prodCtx.ID}), &one)
	if one.RuntimeContext == nil || len(one.RuntimeContext.Labels) != 0 {
		t.Fatalf("labels(key: missing) gave %+v", one.RuntimeContext)
	}

	t.Run("label filters", func(t *testing.T) {
		var p rtContextPage
		ok(t, secure(t, a, "/director/graphql", listContexts, map[string]any{"first": 10,
			"filter": []any{map[string]any{"key": "env", "query": `$ ? (@ == "prod")`}}}), &p)
		if p.RuntimeContexts.TotalCount != 1 || !slices.Equal(contextKeys(p), []string{"ns-prod"}) {
			t.Fatalf("env == prod lists %+v", p.RuntimeContexts)
		}
		ok(t, secure(t, a, "/director/graphql", listContexts, map[string]any{"first": 1,
			"filter": []any{map[string]any{"key": "env"}}}), &p)
		if p.RuntimeContexts.TotalCount != 2 || !slices.Equal(contextKeys(p), []string{"ns-prod"}) || !p.RuntimeContexts.PageInfo.HasNextPage {
			t.Fatalf("first page of contexts with env: %+v", p.RuntimeContexts)
		}
		after := p.RuntimeContexts.PageInfo.EndCursor
		ok(t, secure(t, a, "/director/graphql", listContexts, map[string]any{"first": 1, "after": after,
			"filter": []any{map[string]any{"key": "env"}}}), &p)
		if !slices.Equal(contextKeys(p), []string{"ns-dev"}) || p.RuntimeContexts.PageInfo.HasNextPage {
			t.Fatalf("second page of contexts with env: %+v", p.RuntimeContexts)
		}
		r := secure(t, a, "/director/graphql", listContexts, map[string]any{
			"filter": []any{map[string]any{"key": "env", "query": `$.env`}}})
		if len(r.Errors) == 0 || r.Errors[0].Code() != "INVALID_LABEL_FILTER" {
			t.Fatalf("a bad filter: %s", r.Raw)
		}
	})

	t.Run("a key is unique per runtime", func(t *testing.T) {
		r := secure(t, a, "/director/graphql", registerContext, map[string]any{"in": map[string]any{"key": "ns-prod", "value": "again"}})
		if len(r.Errors) == 0 || r.Errors[0].Code() != "ALREADY_EXISTS" {
			t.Fatalf("a second ns-prod in runtime A: %s", r.Raw)
		}
		r = secure(t, a, "/director/graphql", registerContext, map[string]any{"in": map[string]any{"key": "no/slash", "value": "v"}})
		if len(r.Errors) == 0 || r.Errors[0].Code() != "INVALID_INPUT" {
			t.Fatalf("an invalid key: %s", r.Raw)
		}
	})

	t.Run("another runtime neither sees nor changes them", func(t *testing.T) {
		var p rtContextPage
		ok(t, secure(t, b, "/director/graphql", listContexts, map[string]any{"first": 10}), &p)
		if p.RuntimeContexts.TotalCount != 0 || len(p.RuntimeContexts.Data) != 0 {
			t.Fatalf("runtime B lists %+v", p.RuntimeContexts)
		}
		var g struct{ RuntimeContext *rtContext }
		ok(t, secure(t, b, "/director/graphql", getContext, map[string]any{"id": prodCtx.ID}), &g)
		if g.RuntimeContext != nil {
			t.Fatalf("runtime B reads runtime A's context: %+v", g.RuntimeContext)
		}
		r := secure(t, b, "/director/graphql", updateContext, map[string]any{"id": prodCtx.ID, "in": map[string]any{"key": "stolen", "value": "x"}})
		if len(r.Errors) == 0 || r.Errors[0].Code() != "NOT_FOUND" {
			t.Fatalf("runtime B updated runtime A's context: %s", r.Raw)
		}
		r = secure(t, b, "/director/graphql", `mutation($id: ID!) { unregisterRuntimeContext(id: $id) { id } }`, map[string]any{"id": prodCtx.ID})
		if len(r.Errors) == 0 || r.Errors[0].Code() != "NOT_FOUND" {
			t.Fatalf("runtime B removed runtime A's context: %s", r.Raw)
		}
		// The same key is free in runtime B.
		ok(t, secure(t, b, "/director/graphql", registerContext, map[string]any{"in": map[string]any{"key": "ns-prod", "value": "b's"}}), nil)
		ok(t, secure(t, a, "/director/graphql", getContext, map[string]any{"id": prodCtx.ID}), &g)
		if g.RuntimeContext == nil || g.RuntimeContext.Key != "ns-prod" || g.RuntimeContext.Value != "production" {
			t.Fatalf("runtime A's context after runtime B's attempts: %+v", g.RuntimeContext)
		}
	})

	t.Run("a user gets a clear error", func(t *testing.T) {
		r := gql(t, contextTenant, listContexts, nil)
		if len(r.Errors) == 0 || r.Errors[0].Code() != "FORBIDDEN" || !strings.Contains(r.Errors[0].Message, "belong to the calling runtime") {
			t.Fatalf("runtimeContexts as a user: %s", r.Raw)
		}
		r = gql(t, contextTenant, registerContext, map[string]any{"in": map[string]any{"key": "by-a-user", "value": "v"}})
		if len(r.Errors) == 0 || r.Errors[0].Code() != "FORBIDDEN" {
			t.Fatalf("registerRuntimeContext as a user: %s", r.Raw)
		}
	})

	t.Run("the runtime's eventing configuration comes from its label", func(t *testing.T) {
		var rt struct {
			Runtime struct {
				EventingConfiguration struct{ DefaultURL string }
			}
		}
		ok(t, gql(t, contextTenant, `query($id: ID!) { runtime(id: $id) { eventingConfiguration { defaultURL } } }`, map[string]any{"id": rtA}), &rt)
		if rt.Runtime.EventingConfiguration.DefaultURL != "https://events.a.example.com" {
			t.Fatalf("eventingConfiguration %+v", rt.Runtime.EventingConfiguration)
		}
		var self struct {
			Runtimes struct {
				Data []struct {
					EventingConfiguration struct{ DefaultURL string }
				}
			}
		}
		ok(t, secure(t, b, "/director/graphql", `{ runtimes { data { eventingConfiguration { defaultURL } } } }`, nil), &self)
		if len(self.Runtimes.Data) != 1 || self.Runtimes.Data[0].EventingConfiguration.DefaultURL != "" {
			t.Fatalf("a runtime without the label: %+v", self.Runtimes.Data)
		}
	})

	t.Run("unregistering the runtime removes its contexts", func(t *testing.T) {
		ok(t, gql(t, contextTenant, `mutation($id: ID!) { unregisterRuntime(id: $id) { id } }`, map[string]any{"id": rtA}), nil)
		for _, topic := range []string{"runtimecontext.created", "runtimecontext.deleted"} {
			deadline := time.Now().Add(10 * time.Second)
			for !streamHas(t, topic, prodCtx.ID) {
				if time.Now().After(deadline) {
					t.Fatalf("no %s event for %s on the broker", topic, prodCtx.ID)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	})
}
