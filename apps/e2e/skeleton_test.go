package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
)

// gql sends a GraphQL request to the Director through the gateway as a user of tenant with every scope
// (no credentials at all when tenant is empty).
func gql(t testing.TB, tenant, query string, vars map[string]any) *stacktest.Response {
	t.Helper()
	h := http.Header{}
	if tenant != "" {
		h.Set("Authorization", "Bearer "+userToken(t, tenant))
	}
	resp, err := stacktest.GraphQL(context.Background(), stack.AppURL("gateway")+"/director/graphql", h, query, vars)
	if err != nil {
		t.Fatalf("graphql: %v", err)
	}
	return resp
}

// ok fails the test unless the response is a 200 without GraphQL errors, and decodes its data into out.
func ok(t testing.TB, r *stacktest.Response, out any) {
	t.Helper()
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("status %d, errors %+v, body %s", r.Status, r.Errors, r.Raw)
	}
	if out != nil {
		if err := r.Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

var tokens sync.Map // tenant -> token

func userToken(t testing.TB, tenant string, scopes ...string) string {
	t.Helper()
	key := tenant + "|" + strings.Join(scopes, " ")
	if tok, ok := tokens.Load(key); ok {
		return tok.(string)
	}
	tok, err := stack.Token(tenant, scopes...)
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	tokens.Store(key, tok)
	return tok
}

type appData struct {
	ID     string         `json:"id"`
	Name   string         `json:"name"`
	Labels map[string]any `json:"labels"`
	Status struct {
		Condition string `json:"condition"`
	} `json:"status"`
}

const registerApp = `mutation($in: ApplicationRegisterInput!) {
  registerApplication(in: $in) { id name labels status { condition } }
}`

const getApp = `query($id: ID!) { application(id: $id) { id name labels status { condition } } }`

const listApps = `query($first: Int, $after: PageCursor) {
  applications(first: $first, after: $after) {
    data { id name } totalCount pageInfo { endCursor hasNextPage }
  }
}`

type appPage struct {
	Applications struct {
		Data       []appData `json:"data"`
		TotalCount int       `json:"totalCount"`
		PageInfo   struct {
			EndCursor   string `json:"endCursor"`
			HasNextPage bool   `json:"hasNextPage"`
		} `json:"pageInfo"`
	} `json:"applications"`
}

func TestRegisterReadAndTenantIsolation(t *testing.T) {
	var reg struct{ RegisterApplication appData }
	ok(t, gql(t, "tenant-a", registerApp, map[string]any{"in": map[string]any{
		"name": "wordpress", "labels": map[string]any{"group": []string{"production"}},
	}}), &reg)
	app := reg.RegisterApplication
	if app.ID == "" || app.Name != "wordpress" || app.Status.Condition != "INITIAL" {
		t.Fatalf("registered %+v", app)
	}

	var got struct{ Application *appData }
	ok(t, gql(t, "tenant-a", getApp, map[string]any{"id": app.ID}), &got)
	if got.Application == nil || got.Application.Name != "wordpress" || got.Application.Labels["group"] == nil {
		t.Fatalf("read back %+v", got.Application)
	}

	var page appPage
	ok(t, gql(t, "tenant-a", listApps, map[string]any{"first": 10}), &page)
	if !containsApp(page.Applications.Data, app.ID) || page.Applications.TotalCount < 1 {
		t.Fatalf("tenant-a's list misses its application: %+v", page)
	}

	// Tenant B sees none of it: not by id, not in its list.
	ok(t, gql(t, "tenant-b", getApp, map[string]any{"id": app.ID}), &got)
	if got.Application != nil {
		t.Fatalf("tenant-b read tenant-a's application: %+v", got.Application)
	}
	ok(t, gql(t, "tenant-b", listApps, map[string]any{"first": 10}), &page)
	if containsApp(page.Applications.Data, app.ID) || page.Applications.TotalCount != 0 {
		t.Fatalf("tenant-b lists tenant-a's applications: %+v", page)
	}
}

func TestPagination(t *testing.T) {
	const tenant, n = "tenant-pages", 7
	for i := range n {
		ok(t, gql(t, tenant, registerApp, map[string]any{"in": map[string]any{"name": "app-" + string(rune('a'+i))}}), nil)
	}
	seen := map[string]bool{}
	after := ""
	for pages := 1; ; pages++ {
		var page appPage
		ok(t, gql(t, tenant, listApps, map[string]any{"first": 3, "after": after}), &page)
		if page.Applications.TotalCount != n {
			t.Fatalf("totalCount %d, want %d", page.Applications.TotalCount, n)
		}
		for _, a := range page.Applications.Data {
			if seen[a.ID] {
				t.Fatalf("%s listed twice", a.Name)
			}
			seen[a.ID] = true
		}
		if !page.Applications.PageInfo.HasNextPage {
			if pages != 3 {
				t.Fatalf("%d pages of 3 for %d applications", pages, n)
			}
			break
		}
		after = page.Applications.PageInfo.EndCursor
	}
	if len(seen) != n {
		t.Fatalf("listed %d applications, want %d", len(seen), n)
	}
}

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	const tenant = "tenant-bad"
	ok(t, gql(t, tenant, registerApp, map[string]any{"in": map[string]any{"name": "taken"}}), nil)

	// Next to our code, Compass's error_code and error, and a message beginning as Compass's (issue 9).
	cases := []struct {
		name      string
		in        map[string]any
		code      string
		errorCode float64
		class     string
		prefix    string
	}{
		{"invalid name", map[string]any{"name": strings.Repeat("n", 37)}, "INVALID_INPUT", 22, "InvalidData", "Invalid data: "},
		{"duplicate name", map[string]any{"name": "taken"}, "ALREADY_EXISTS", 31, "NotUniqueName", "Object name is not unique: "},
		{"bad health URL", map[string]any{"name": "ok-name", "healthCheckURL": "ftp://x"}, "INVALID_INPUT", 22, "InvalidData", "Invalid data: "},
		{"bad label key", map[string]any{"name": "ok-name", "labels": map[string]any{"a b": "x"}}, "INVALID_INPUT", 22, "InvalidData", "Invalid data: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := gql(t, tenant, registerApp, map[string]any{"in": c.in})
			if len(r.Errors) == 0 || r.Errors[0].Code() != c.code || len(r.Errors[0].Message) <= len(c.prefix) ||
				!strings.HasPrefix(r.Errors[0].Message, c.prefix) ||
				r.Errors[0].Extensions["error_code"] != c.errorCode || r.Errors[0].Extensions["error"] != c.class {
				t.Fatalf("want error %s (%v %s, %q...), got %s", c.code, c.errorCode, c.class, c.prefix, r.Raw)
			}
		})
	}
	// Compass's clients write empty argument lists (issue 9, missing behaviour 8).
	ok(t, gql(t, tenant, `query() { labelDefinitions() { key } }`, nil), nil)
	var page appPage
	ok(t, gql(t, tenant, listApps, map[string]any{"first": 10}), &page)
	if page.Applications.TotalCount != 1 {
		t.Fatalf("refused registrations left %d applications, want 1", page.Applications.TotalCount)
	}

	// Without credentials the gateway refuses before anything reaches the Director.
	r := gql(t, "", listApps, nil)
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("no tenant: status %d %s", r.Status, r.Raw)
	}
}

func containsApp(apps []appData, id string) bool {
	for _, a := range apps {
		if a.ID == id {
			return true
		}
	}
	return false
}

// concurrently calls fn for 0..n-1 from c goroutines and returns the first error; after one, no more
// calls start.
func concurrently(n, c int, fn func(i int) error) error {
	var next atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for first.Load() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if err := fn(int(i)); err != nil {
					first.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	err, _ := first.Load().(error)
	return err
}

// answerErr is the error of a GraphQL answer: a transport error, the gateway's own refusal (503 or 504 on
// an overloaded machine: no GraphQL errors, yet nothing was done), or the first GraphQL error.
func answerErr(r *stacktest.Response, err error) error {
	switch {
	case err != nil:
		return err
	case r.Status != http.StatusOK:
		return fmt.Errorf("status %d: %s", r.Status, r.Raw)
	case len(r.Errors) > 0:
		return fmt.Errorf("%s", r.Raw)
	}
	return nil
}

// allowScenarios makes the tenant's "scenarios" label definition allow DEFAULT and the given scenarios.
func allowScenarios(t testing.TB, tenant string, scenarios ...string) {
	t.Helper()
	enum, _ := json.Marshal(append([]string{"DEFAULT"}, scenarios...))
	schema := `{"type":"array","items":{"type":"string","enum":` + string(enum) + `}}`
	ok(t, gql(t, tenant, `mutation($schema: JSONSchema) { updateLabelDefinition(in: {key: "scenarios", schema: $schema}) { key } }`,
		map[string]any{"schema": schema}), nil)
}
