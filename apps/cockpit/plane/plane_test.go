package plane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/schematest"
)

// gateway records what the client sends and answers with data, or with answer when set.
type gateway struct {
	mu     sync.Mutex
	sent   map[API][]string
	auth   []string
	rid    []string
	answer string
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Query string `json:"query"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	g.mu.Lock()
	api := API(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/graphql"))
	g.sent[api] = append(g.sent[api], body.Query)
	g.auth = append(g.auth, r.Header.Get("Authorization"))
	g.rid = append(g.rid, r.Header.Get("X-Request-Id"))
	answer := g.answer
	g.mu.Unlock()
	w.Header().Set("X-Request-Id", "rid-from-gateway")
	if answer == "" {
		answer = `{"data":{}}`
	}
	_, _ = w.Write([]byte(answer))
}

func newGateway(t *testing.T) (*gateway, *Client) {
	g := &gateway{sent: map[API][]string{}}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, New(srv.URL, 5*time.Second)
}

// Every document the Cockpit sends validates against the schema of the app it goes to, so that the UI
// cannot drift from the APIs as the upstream console did.
func TestDocumentsMatchTheSchemas(t *testing.T) {
	g, c := newGateway(t)
	ctx := WithRequestID(context.Background(), "rid-1")
	f := ParseFilter("env=prod scenarios[]=DEFAULT managed")
	_, _ = c.Applications(ctx, "tok", f, 50, "cursor")
	_, _ = c.Application(ctx, "tok", "a-1")
	_, _ = c.ApplicationByName(ctx, "tok", "shop")
	_, _ = c.InstanceAuthsWithCondition(ctx, "tok", "FAILED", 20)
	_, _ = c.RegisterApplication(ctx, "tok", ApplicationInput{Name: "shop"})
	_ = c.UnregisterApplication(ctx, "tok", "a-1")
	_ = c.UpdateApplication(ctx, "tok", "a-1", ApplicationUpdate{Description: "d", IntegrationSystemID: "is-1"})
	_, _ = c.Document(ctx, "tok", "a-1", "b-1", "doc-1")
	_, _ = c.AddDocument(ctx, "tok", "b-1", Document{Title: "t", DisplayName: "T", Data: "# x", Kind: "guide"})
	_ = c.DeleteDocument(ctx, "tok", "doc-1")
	for _, obj := range []Object{ApplicationObject, RuntimeObject} {
		_ = c.SetLabel(ctx, "tok", obj, "x-1", "env", "prod")
		_ = c.DeleteLabel(ctx, "tok", obj, "x-1", "env")
	}
	_, _ = c.PairApplication(ctx, "tok", "a-1")
	_, _ = c.LabelDefinition(ctx, "tok", "env")
	_, _ = c.Runtimes(ctx, "tok", f, 50, "", true)
	_, _ = c.Runtime(ctx, "tok", "r-1")
	_, _ = c.ProvisionLocal(ctx, "tok", LocalRuntimeInput{Name: "edge"})
	_, _ = c.Deprovision(ctx, "tok", "r-1")
	_, _ = c.Operations(ctx, "tok", "r-1")
	_, _ = c.LabelDefinitions(ctx, "tok")
	_ = c.SaveLabelDefinition(ctx, "tok", "tier", `{"type":"string"}`, false)
	_ = c.SaveLabelDefinition(ctx, "tok", "tier", "", true)
	_ = c.DeleteLabelDefinition(ctx, "tok", "tier", true)
	_, _ = c.Assignments(ctx, "tok")
	_ = c.Assign(ctx, "tok", "blue", "env", "prod")
	_ = c.Unassign(ctx, "tok", "blue")
	_, _, _ = c.CountWithScenario(ctx, "tok", "blue")
	for _, obj := range []Object{ApplicationObject, RuntimeObject, IntegrationSystemObject} {
		_, _ = c.RequestClientCredentials(ctx, "tok", obj, "x-1")
		_, _ = c.SystemAuths(ctx, "tok", obj, "x-1")
		_ = c.DeleteSystemAuth(ctx, "tok", obj, "sa-1")
	}
	_, _ = c.PairRuntime(ctx, "tok", "r-1")
	_, _, _, _ = c.IntegrationSystems(ctx, "tok", 50, "c")
	_ = c.RegisterIntegrationSystem(ctx, "tok", "erp", "d")
	_ = c.UnregisterIntegrationSystem(ctx, "tok", "is-1")
	_, _ = c.Templates(ctx, "tok")
	_, _ = c.RegisterFromTemplate(ctx, "tok", "crm", map[string]string{"name": "x"})
	_ = c.CreateTemplate(ctx, "tok", "crm", "d", map[string]any{"name": "{{name}}"}, []string{"name"})
	_ = c.AddWebhook(ctx, "tok", "a-1", "CONFIGURATION_CHANGED", "https://hooks")
	_ = c.DeleteWebhook(ctx, "tok", "w-1")
	_, _ = c.Bundle(ctx, "tok", "a-1", "b-1")
	_, _ = c.Spec(ctx, "tok", "a-1", "b-1", "api", "d-1")
	_, _ = c.Spec(ctx, "tok", "a-1", "b-1", "event", "d-2")
	_ = c.ApproveInstanceAuth(ctx, "tok", "ia-1", Credentials{Username: "u", Password: "p"})
	_ = c.ApproveInstanceAuth(ctx, "tok", "ia-1", Credentials{ClientID: "c", ClientSecret: "s", TokenURL: "https://t"})
	_ = c.DenyInstanceAuth(ctx, "tok", "ia-1", "no")
	b := Binding{Name: "logging", Type: "bindings.http", Metadata: []MetadataItem{{Name: "url", Value: "http://x"}},
		SecretMetadata: []MetadataItem{{Name: "securityToken"}}}
	_, _ = c.Configurations(ctx, "tok", 50, "c")
	_, _ = c.Configuration(ctx, "tok", "c-1")
	_, _ = c.Revisions(ctx, "tok", "c-1", 200, "c")
	_, _ = c.CreateConfiguration(ctx, "tok", ConfigurationInput{LabelSelector: []LabelMatch{{Key: "env", Value: "prod"}}, Bindings: []Binding{b}})
	_ = c.UpdateConfiguration(ctx, "tok", "c-1", ConfigurationInput{RuntimeID: "r-1", Bindings: []Binding{b}})
	_ = c.DeleteConfiguration(ctx, "tok", "c-1")
	_ = c.Rollback(ctx, "tok", "c-1", 1)
	_, _ = c.RuntimeConfiguration(ctx, "tok", "r-1")
	_, _ = c.RuntimesWithStatus(ctx, "tok", "FAILED", 20)
	_, _ = c.BindingTypes(ctx, "tok")
	_, _ = c.Rollout(ctx, "tok", "c-1")
	for _, a := range []RolloutAction{PauseRollout, ResumeRollout, PromoteRollout, AbortRollout} {
		_ = c.ActOnRollout(ctx, "tok", "c-1", a)
	}
	two := 2
	_, _ = c.CreateConfiguration(ctx, "tok", ConfigurationInput{LabelSelector: []LabelMatch{{Key: "env", Value: "prod"}}, Bindings: []Binding{b},
		Rollout: &RolloutStrategy{CanaryCount: &two, BatchPercent: &two, SoakSeconds: 1, StepTimeoutSeconds: 60}})

	schemas := map[API]string{
		Director:    filepath.Join("..", "..", "director", "graph", "schema", "*.graphqls"),
		Provisioner: filepath.Join("..", "..", "provisioner", "graph", "schema", "*.graphqls"),
		Governor:    filepath.Join("..", "..", "governor", "graph", "schema", "*.graphqls"),
	}
	for api, docs := range g.sent {
		glob, ok := schemas[api]
		if !ok {
			t.Fatalf("documents sent to %q, which has no schema here", api)
		}
		schema := schematest.Load(t, glob)
		for i, d := range docs {
			schematest.Validate(t, schema, fmt.Sprintf("%s document %d", api, i), d)
		}
	}
	if len(g.sent[Director]) != 50 || len(g.sent[Provisioner]) != 3 || len(g.sent[Governor]) != 16 {
		t.Errorf("sent %d Director, %d Provisioner and %d Governor documents", len(g.sent[Director]), len(g.sent[Provisioner]), len(g.sent[Governor]))
	}
	for i := range g.auth {
		if g.auth[i] != "Bearer tok" || g.rid[i] != "rid-1" {
			t.Fatalf("request %d carried Authorization %q and X-Request-Id %q", i, g.auth[i], g.rid[i])
		}
	}
}

func TestParseFilter(t *testing.T) {
	got := ParseFilter(` env=prod  scenarios[]=DEFAULT replicas=3 managed  quoted="a b" =x `)
	want := []LabelFilter{
		{Key: "env", Query: `$ ? (@ == "prod")`},
		{Key: "scenarios", Query: `$[*] ? (@ == "DEFAULT")`},
		{Key: "replicas", Query: `$ ? (@ == 3)`},
		{Key: "managed"},
		{Key: "quoted", Query: `$ ? (@ == "\"a")`},
		{Key: "b\""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseFilter:\n got %+v\nwant %+v", got, want)
	}
}

// An API's refusal reaches the page with its code, message and the gateway's request ID.
func TestErrorsCarryTheCodeAndRequestID(t *testing.T) {
	g, c := newGateway(t)
	g.answer = `{"errors":[{"message":"label \"env\" does not satisfy","extensions":{"code":"INVALID_INPUT"}}],"data":null}`
	err := c.SetLabel(context.Background(), "tok", ApplicationObject, "a-1", "env", "x")
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != "INVALID_INPUT" || pe.RequestID != "rid-from-gateway" || !strings.Contains(pe.Message, "does not satisfy") {
		t.Fatalf("error %#v", err)
	}
	g.answer = `{"error":{"code":"UNAUTHENTICATED","message":"token expired"}}`
	if err := c.UnregisterApplication(context.Background(), "tok", "a-1"); !errors.As(err, &pe) || pe.Code != "UNAUTHENTICATED" {
		t.Fatalf("gateway refusal became %#v", err)
	}
}

// A gateway that cannot be reached is said so, without its address.
func TestUnreachableGatewayHidesItsAddress(t *testing.T) {
	c := New("http://127.0.0.1:1", time.Second)
	_, err := c.Runtime(context.Background(), "tok", "r-1")
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != "UNAVAILABLE" || strings.Contains(pe.Message, "127.0.0.1") {
		t.Fatalf("error %#v", err)
	}
}

func TestPairingReadsTheExpiry(t *testing.T) {
	g, c := newGateway(t)
	g.answer = `{"data":{"requestOneTimeTokenForApplication":{"token":"t0k3n","connectorURL":"https://c","raw":"{\"token\":\"t0k3n\",\"expiresAt\":\"2026-12-02T10:00:00Z\"}","rawEncoded":"e30="}}}`
	p, err := c.PairApplication(context.Background(), "tok", "a-1")
	if err != nil {
		t.Fatal(err)
	}
	if p.Token != "t0k3n" || !p.ExpiresAt.Equal(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("pairing %+v", p)
	}
}
