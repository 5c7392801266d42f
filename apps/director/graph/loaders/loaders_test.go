package loaders_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/google/uuid"

	"github.com/mgmtplane/mgmtplane/apps/director/application"
	"github.com/mgmtplane/mgmtplane/apps/director/bundle"
	"github.com/mgmtplane/mgmtplane/apps/director/graph"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/generated"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/loaders"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/label"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion/assertiontest"
	"github.com/mgmtplane/mgmtplane/apps/internal/gqlserver"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

// countingStore counts the bundle service's storage calls by method and kind.
type countingStore struct {
	bundle.Store
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingStore) count(method, kind string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[method+" "+kind]++
}

func (c *countingStore) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = map[string]int{}
}

func (c *countingStore) Get(ctx context.Context, s registry.Scope, id string, out any) error {
	c.count("Get", s.Kind)
	return c.Store.Get(ctx, s, id, out)
}

func (c *countingStore) GetMany(ctx context.Context, s registry.Scope, ids []string, decode func(string, []byte) error) error {
	c.count("GetMany", s.Kind)
	return c.Store.GetMany(ctx, s, ids, decode)
}

func (c *countingStore) List(ctx context.Context, s registry.Scope, index string, first int, after string) (registry.Page, error) {
	c.count("List", s.Kind)
	return c.Store.List(ctx, s, index, first, after)
}

func (c *countingStore) ListMany(ctx context.Context, s registry.Scope, reqs []registry.ListRequest) ([]registry.Page, error) {
	c.count("ListMany", s.Kind)
	return c.Store.ListMany(ctx, s, reqs)
}

// root is the Director's resolver root with Application.bundles and Application.bundle answered through the
// loaders, exactly as application.resolvers.go is meant to answer them.
type root struct{ *graph.Resolver }

func (r root) Application() generated.ApplicationResolver {
	return appResolver{r.Resolver.Application()}
}

type appResolver struct{ generated.ApplicationResolver }

func (appResolver) Bundles(ctx context.Context, obj *model.Application, first *int, after *string) (*model.BundlePage, error) {
	n := application.MaxPageSize
	if first != nil {
		n = *first
	}
	a := ""
	if after != nil {
		a = *after
	}
	return loaders.For(ctx).BundlesOf(ctx, obj.ID, n, a)
}

func (appResolver) Bundle(ctx context.Context, obj *model.Application, id string) (*model.Bundle, error) {
	return loaders.For(ctx).BundleOf(ctx, obj.ID, id)
}

type fixture struct {
	gql   *client.Client // tenant t1
	other *client.Client // tenant t2
	store *countingStore
	svc   *bundle.Service
	reg   *registry.Registry
	ctx   context.Context
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	reg := registry.New(memstate.New(), "registry")
	store := &countingStore{Store: reg, calls: map[string]int{}}
	svc := bundle.NewService(store, nil, bundle.Config{})
	res := &graph.Resolver{Apps: application.NewService(reg, label.NewDefinitions(reg)), Bundles: svc}
	srv := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: root{res}}))
	srv.AddTransport(transport.POST{})
	srv.SetErrorPresenter(gqlserver.ErrorPresenter(slog.New(slog.DiscardHandler)))
	kit := assertiontest.New(t)
	h := kit.Middleware("director")(loaders.Middleware(srv, svc, nil))
	user := func(tenant string) client.Option {
		return client.AddHeader(assertion.Header, kit.Sign(t, identity.Identity{Tenant: tenant, ConsumerType: identity.ConsumerUser}, "director"))
	}
	return &fixture{
		gql:   client.New(h, user("t1")),
		other: client.New(h, user("t2")),
		store: store, svc: svc, reg: reg,
		ctx: identity.NewContext(context.Background(), identity.Identity{Tenant: "t1"}),
	}
}

// seed stores apps applications with bundlesPer bundles of apisPer API definitions each.
func (f *fixture) seed(t *testing.T, apps, bundlesPer, apisPer int) {
	t.Helper()
	sc, _ := registry.TenantScope(f.ctx, application.Kind)
	for i := range apps {
		app := &model.Application{ID: uuid.NewString(), Name: fmt.Sprintf("app-%d", i), CreatedAt: time.Now(),
			Status: &model.ApplicationStatus{Condition: model.ApplicationStatusConditionInitial, Timestamp: time.Now()}}
		err := f.reg.Mutate(f.ctx, sc, app.ID, "", func([]byte) (registry.Change, error) { return registry.Change{Data: app}, nil })
		if err != nil {
			t.Fatal(err)
		}
		var in []*model.BundleCreateInput
		for j := range bundlesPer {
			b := &model.BundleCreateInput{Name: fmt.Sprintf("b-%d", j)}
			for k := range apisPer {
				data := "{}"
				b.APIDefinitions = append(b.APIDefinitions, &model.APIDefinitionInput{
					Name: fmt.Sprintf("api-%d", k), TargetURL: "https://example.com",
					Spec: &model.APISpecInput{Data: &data, Type: model.APISpecTypeOpenAPI, Format: model.SpecFormatJSON},
				})
			}
			in = append(in, b)
		}
		if err := f.svc.CreateForApplication(f.ctx, app.ID, in); err != nil {
			t.Fatal(err)
		}
	}
}

// A nested query reads each level's entities in one bulk read, however many parents the level has. The
// registry reads one index per List call, so the index pages are still one call per parent (made side by
// side within the batch); a registry read across indexes would make those one call per level as well.
func TestNestedQueryIsBatched(t *testing.T) {
	const query = `{ applications { data { id bundles { totalCount data { id name apiDefinitions { totalCount data { id name } } } } } } }`
	for _, apps := range []int{2, 5} {
		t.Run(fmt.Sprintf("%d applications", apps), func(t *testing.T) {
			f := newFixture(t)
			f.seed(t, apps, 2, 3)
			f.store.reset()

			var resp struct {
				Applications struct {
					Data []struct {
						ID      string
						Bundles struct {
							TotalCount int
							Data       []struct {
								ID, Name       string
								APIDefinitions struct {
									TotalCount int
									Data       []struct{ ID, Name string }
								}
							}
						}
					}
				}
			}
			f.gql.MustPost(query, &resp)

			if len(resp.Applications.Data) != apps {
				t.Fatalf("%d applications, want %d", len(resp.Applications.Data), apps)
			}
			for _, a := range resp.Applications.Data {
				if a.Bundles.TotalCount != 2 || len(a.Bundles.Data) != 2 {
					t.Fatalf("application %s: %+v", a.ID, a.Bundles)
				}
				for _, b := range a.Bundles.Data {
					if b.APIDefinitions.TotalCount != 3 || b.APIDefinitions.Data[2].Name != "api-2" {
						t.Fatalf("bundle %s: %+v", b.ID, b.APIDefinitions)
					}
				}
			}
			// Every parent's index page and entities in one batched read per level, however many parents
			// (without batching: one per application, then one per bundle). The loaders batch by a time
			// window, so a starved machine may split a level once; it never goes per parent.
			want := map[string]int{
				"GetMany bundle":         1,
				"GetMany apidefinition":  1,
				"ListMany bundle":        1,
				"ListMany apidefinition": 1,
			}
			for k, n := range want {
				if got := f.store.calls[k]; got < n || got > n+1 {
					t.Errorf("%s: %d calls, want %d (all: %v)", k, got, n, f.store.calls)
				}
			}
			if len(f.store.calls) != len(want) {
				t.Errorf("unexpected storage calls: %v", f.store.calls)
			}
		})
	}
}

func TestBundleFieldsThroughGraphQL(t *testing.T) {
	f := newFixture(t)
	f.seed(t, 1, 0, 0)
	var apps struct {
		Applications struct{ Data []struct{ ID string } }
	}
	f.gql.MustPost(`{ applications { data { id } } }`, &apps)
	appID := apps.Applications.Data[0].ID

	var added struct{ AddBundle struct{ ID string } }
	f.gql.MustPost(`mutation($app: ID!) { addBundle(applicationID: $app, in: {
		name: "b", defaultInstanceAuth: {credential: {basic: {username: "u", password: "p"}}},
		apiDefinitions: [{name: "a", targetURL: "https://x", group: "g", spec: {data: "{}", type: OPEN_API, format: JSON}}],
		documents: [{title: "t", displayName: "t", description: "d", format: MARKDOWN, data: "# t"}]
	}) { id } }`, &added, client.Var("app", appID))
	bundleID := added.AddBundle.ID

	var req struct{ RequestBundleInstanceAuthCreation struct{ ID string } }
	f.gql.MustPost(`mutation($b: ID!) { requestBundleInstanceAuthCreation(bundleID: $b, in: {context: "{}"}) { id } }`,
		&req, client.Var("b", bundleID))
	authID := req.RequestBundleInstanceAuthCreation.ID

	var resp struct {
		Application struct {
			Bundle struct {
				Name           string
				APIDefinitions struct{ TotalCount int }
				Grouped        struct{ TotalCount int }
				Documents      struct{ Data []struct{ Title string } }
				InstanceAuths  []struct {
					ID     string
					Status struct{ Condition string }
					Auth   struct {
						Credential struct{ Username string }
					}
				}
				InstanceAuth *struct{ ID string }
				Missing      *struct{ ID string }
			}
			Other *struct{ ID string }
		}
		BundleByInstanceAuth struct{ ID string }
	}
	f.gql.MustPost(`query($app: ID!, $b: ID!, $auth: ID!) { application(id: $app) {
		bundle(id: $b) {
			name
			apiDefinitions { totalCount }
			grouped: apiDefinitions(group: "other") { totalCount }
			documents { data { title } }
			instanceAuths { id status { condition } auth { credential { ... on BasicCredentialData { username } } } }
			instanceAuth(id: $auth) { id }
			missing: apiDefinition(id: "nope") { id }
		}
		other: bundle(id: "nope") { id }
	}
	bundleByInstanceAuth(authID: $auth) { id } }`, &resp, client.Var("app", appID), client.Var("b", bundleID), client.Var("auth", authID))

	b := resp.Application.Bundle
	if b.Name != "b" || b.APIDefinitions.TotalCount != 1 || b.Grouped.TotalCount != 0 || b.Documents.Data[0].Title != "t" {
		t.Fatalf("bundle: %+v", b)
	}
	if len(b.InstanceAuths) != 1 || b.InstanceAuths[0].Status.Condition != "SUCCEEDED" || b.InstanceAuths[0].Auth.Credential.Username != "u" {
		t.Fatalf("instance auths: %+v", b.InstanceAuths)
	}
	if b.InstanceAuth == nil || b.InstanceAuth.ID != authID || b.Missing != nil || resp.Application.Other != nil {
		t.Fatalf("lookups by id: %+v", resp)
	}
	if resp.BundleByInstanceAuth.ID != bundleID {
		t.Fatalf("bundleByInstanceAuth: %+v", resp.BundleByInstanceAuth)
	}

	// Another tenant sees null, and its mutations find nothing.
	var none struct{ BundleInstanceAuth *struct{ ID string } }
	f.other.MustPost(`query($auth: ID!) { bundleInstanceAuth(id: $auth) { id } }`, &none, client.Var("auth", authID))
	if none.BundleInstanceAuth != nil {
		t.Fatalf("another tenant read %+v", none.BundleInstanceAuth)
	}
	err := f.other.Post(`mutation($b: ID!) { deleteBundle(id: $b) { id } }`, &struct{}{}, client.Var("b", bundleID))
	if err == nil || !strings.Contains(err.Error(), "NOT_FOUND") {
		t.Fatalf("deleteBundle from another tenant: %v", err)
	}
}
