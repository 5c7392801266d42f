package ui

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/cockpit/live"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/plane"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/session"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/session/sessiontest"
	"github.com/mgmtplane/mgmtplane/apps/internal/devtoken"
)

// fakeGateway answers the Cockpit's GraphQL by the operation's root field, and records the tokens.
type fakeGateway struct {
	answers map[string]string // root field -> data JSON
	tokens  []string
	// bodies are the requests' JSON bodies, in order.
	bodies []string
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/broker/") {
		// The System Broker's REST read: answered by path, with the query recorded as the body.
		g.tokens = append(g.tokens, r.Header.Get("Authorization"))
		g.bodies = append(g.bodies, r.URL.RawQuery)
		data, ok := g.answers[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"error":"Forbidden","description":"listing service instances needs the scope runtime:read"}`)
			return
		}
		_, _ = io.WriteString(w, data)
		return
	}
	raw, _ := io.ReadAll(r.Body)
	var body struct{ Query string }
	_ = json.Unmarshal(raw, &body)
	g.tokens = append(g.tokens, r.Header.Get("Authorization"))
	g.bodies = append(g.bodies, string(raw))
	w.Header().Set("X-Request-Id", "rid-gw")
	// The longest key that matches wins, so a test can tell "o: runtime" (a runtime's auths) from "runtime".
	best := ""
	for field := range g.answers {
		if strings.Contains(body.Query, field+"(") && len(field) > len(best) {
			best = field
		}
	}
	if best != "" {
		_, _ = io.WriteString(w, g.answers[best])
		return
	}
	_, _ = io.WriteString(w, `{"data":{}}`)
}

type cockpit struct {
	*httptest.Server
	srv    *server
	gw     *fakeGateway
	client *http.Client
}

func newCockpit(t *testing.T, dev bool) *cockpit {
	t.Helper()
	gw := &fakeGateway{answers: map[string]string{}}
	gwSrv := httptest.NewServer(gw)
	t.Cleanup(gwSrv.Close)
	d := Deps{
		Log:      slog.New(slog.DiscardHandler),
		Sessions: &session.Manager{Store: sessiontest.New(), Cookie: "cockpit_session", Path: Base + "/"},
		Plane:    plane.New(gwSrv.URL, 5*time.Second), Hub: live.NewHub(),
		DevTokenTTL: time.Hour, LiveMaxAge: 50 * time.Millisecond,
	}
	if dev {
		dir, err := os.MkdirTemp(t.TempDir(), "key")
		if err != nil {
			t.Fatal(err)
		}
		d.DevKey = &devtoken.LocalKey{Dir: dir}
		if err := d.DevKey.Ensure(); err != nil {
			t.Fatal(err)
		}
	}
	s, h, err := newHandler(d)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	return &cockpit{Server: srv, srv: s, gw: gw, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (c *cockpit) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := c.client.Get(c.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *cockpit) post(t *testing.T, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.client.PostForm(c.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// signIn signs in with the development key and returns the session's CSRF token from a page.
func (c *cockpit) signIn(t *testing.T, tenant, role string) string {
	t.Helper()
	resp, _ := c.post(t, Base+"/signin/dev", url.Values{"tenant": {tenant}, "role": {role}, "next": {Base + "/applications"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != Base+"/applications" {
		t.Fatalf("sign-in answered %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := c.get(t, Base+"/applications")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", page)
	}
	return m[1]
}

func TestPagesNeedASignIn(t *testing.T) {
	c := newCockpit(t, true)
	resp, _ := c.get(t, Base+"/runtimes?filter=x")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != Base+"/signin?next="+url.QueryEscape(Base+"/runtimes?filter=x") {
		t.Errorf("answered %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = c.post(t, Base+"/applications", url.Values{"name": {"x"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a form without a session: %d", resp.StatusCode)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("no %s", h)
		}
	}
}

func TestDevelopmentSignIn(t *testing.T) {
	c := newCockpit(t, true)
	c.signIn(t, "t1", "viewer")
	_, page := c.get(t, Base+"/applications")
	if !strings.Contains(page, "Development sign-in") {
		t.Error("a development session is not marked as such")
	}
	if tok := c.gw.tokens[len(c.gw.tokens)-1]; !strings.HasPrefix(tok, "Bearer ey") {
		t.Errorf("the gateway got %q", tok)
	}
	// A viewer's actions are disabled, and say why.
	if !strings.Contains(page, `disabled aria-describedby="why-application:write"`) || !strings.Contains(page, "Needs the scope <code>application:write</code>") {
		t.Errorf("the viewer's Register button:\n%s", page)
	}

	for name, form := range map[string]url.Values{
		"bad tenant":   {"tenant": {"has spaces"}, "role": {"administrator"}},
		"unknown role": {"tenant": {"t1"}, "role": {"root"}},
	} {
		resp, body := c.post(t, Base+"/signin/dev", form)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Request ID") {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
	}
	// After sign-in, only pages of the Cockpit: never another site.
	for _, next := range []string{"https://evil.example/", "//evil.example/", Base + `/\evil`} {
		resp, _ := c.post(t, Base+"/signin/dev", url.Values{"tenant": {"t1"}, "role": {"viewer"}, "next": {next}})
		if loc := resp.Header.Get("Location"); loc != Base+"/" {
			t.Errorf("next %q led to %q", next, loc)
		}
	}
}

func TestDevelopmentSignInIsOffWithoutTheKey(t *testing.T) {
	c := newCockpit(t, false)
	resp, _ := c.post(t, Base+"/signin/dev", url.Values{"tenant": {"t1"}, "role": {"administrator"}})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("development sign-in without a key: %d", resp.StatusCode)
	}
	_, page := c.get(t, Base+"/signin")
	if strings.Contains(page, `action="/cockpit/signin/dev"`) {
		t.Error("the sign-in page offers development sign-in without a key")
	}
}

func TestFormsNeedTheSessionsToken(t *testing.T) {
	c := newCockpit(t, true)
	csrf := c.signIn(t, "t1", "administrator")
	c.gw.answers["registerApplication"] = `{"data":{"registerApplication":{"id":"a-1"}}}`
	resp, _ := c.post(t, Base+"/applications", url.Values{"name": {"shop"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a form without the CSRF token: %d", resp.StatusCode)
	}
	resp, _ = c.post(t, Base+"/applications", url.Values{"name": {"shop"}, "csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != Base+"/applications/a-1" {
		t.Errorf("register: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// A refusal from the API is shown on the page it came from, with its message and request ID, and the form
// keeps what was typed.
func TestRefusalsShowTheirReason(t *testing.T) {
	c := newCockpit(t, true)
	csrf := c.signIn(t, "t1", "administrator")
	c.gw.answers["registerApplication"] = `{"errors":[{"message":"name is already taken","extensions":{"code":"NOT_UNIQUE"}}]}`
	resp, page := c.post(t, Base+"/applications", url.Values{"name": {"shop<b>"}, "csrf": {csrf}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "name is already taken") || !strings.Contains(page, "rid-gw") {
		t.Errorf("answered %d:\n%s", resp.StatusCode, page)
	}
	if !strings.Contains(page, `value="shop&lt;b&gt;"`) {
		t.Error("the form lost what was typed, or did not escape it")
	}
}

func TestLabelCheck(t *testing.T) {
	c := newCockpit(t, true)
	csrf := c.signIn(t, "t1", "administrator")
	c.gw.answers["labelDefinition"] = `{"data":{"labelDefinition":{"key":"env","schema":"{\"type\":\"string\",\"enum\":[\"dev\",\"prod\"]}"}}}`
	check := func(value string) map[string]any {
		resp, body := c.post(t, Base+"/labels/check", url.Values{"key": {"env"}, "value": {value}, "csrf": {csrf}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("check: %d %s", resp.StatusCode, body)
		}
		var out map[string]any
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := check("staging"); got["valid"] != false || !strings.Contains(got["message"].(string), "dev") {
		t.Errorf("staging: %v", got)
	}
	if got := check(`"prod"`); got["valid"] != true {
		t.Errorf("prod: %v", got)
	}
	c.gw.answers["labelDefinition"] = `{"data":{"labelDefinition":null}}`
	if got := check("anything"); got["valid"] != true {
		t.Errorf("no definition: %v", got)
	}
}

func TestLiveStreamsOnlyWhatThePageWasGiven(t *testing.T) {
	c := newCockpit(t, true)
	c.signIn(t, "t1", "administrator")
	resp, _ := c.get(t, Base+"/live?w="+url.QueryEscape(live.Sign("not this session's key", []string{"a-1"})))
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a watch list signed by someone else: %d", resp.StatusCode)
	}
	c.gw.answers["applications"] = `{"data":{"applications":{"data":[{"id":"a-1","name":"shop","status":{"condition":"INITIAL","timestamp":"2026-12-01T00:00:00Z"}}],"pageInfo":{"hasNextPage":false},"totalCount":1}}}`
	_, page := c.get(t, Base+"/applications")
	m := regexp.MustCompile(`data-live="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the list does not watch its applications:\n%s", page)
	}
	resp, _ = c.get(t, strings.ReplaceAll(m[1], "&amp;", "&"))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("the page's own stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestInstanceAuthsCanBeAnsweredFromTheBundle(t *testing.T) {
	c := newCockpit(t, true)
	csrf := c.signIn(t, "t1", "administrator")
	c.gw.answers["bundle"] = `{"data":{"application":{"bundle":{"id":"b-1","name":"orders","apiDefinitions":{"totalCount":1,"data":[{"id":"d-1","name":"orders-api","targetURL":"https://shop/api","spec":{"format":"JSON","type":"OPEN_API"}}]},"eventDefinitions":{"totalCount":0,"data":[]},"instanceAuths":[{"id":"ia-1","status":{"condition":"PENDING","timestamp":"2026-12-01T00:00:00Z","message":"waiting","reason":"PendingNotification"}}]}}}}`
	_, page := c.get(t, Base+"/applications/a-1/bundles/b-1")
	for _, want := range []string{"orders-api", "/applications/a-1/bundles/b-1/api/d-1", "/auths/ia-1/approve", "/auths/ia-1/deny", "PENDING"} {
		if !strings.Contains(page, want) {
			t.Errorf("the bundle page lacks %q", want)
		}
	}
	resp, body := c.post(t, Base+"/applications/a-1/bundles/b-1/auths/ia-1/approve", url.Values{"csrf": {csrf}, "username": {"u"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "username and password") {
		t.Errorf("approve without a password: %d", resp.StatusCode)
	}
	sent := len(c.gw.tokens)
	resp, _ = c.post(t, Base+"/applications/a-1/bundles/b-1/auths/ia-1/deny", url.Values{"csrf": {csrf}, "message": {"not this runtime"}})
	if resp.StatusCode != http.StatusSeeOther || len(c.gw.tokens) != sent+1 {
		t.Errorf("deny: %d, %d calls", resp.StatusCode, len(c.gw.tokens)-sent)
	}
}

// Changing a binding rewrites the whole configuration, which must keep its rollout strategy and drift
// policy: the input is the whole truth, and one without them would drop them.
func TestBindingChangesKeepTheRolloutStrategy(t *testing.T) {
	c := newCockpit(t, true)
	csrf := c.signIn(t, "t1", "administrator")
	c.gw.answers["configuration"] = `{"data":{"configuration":{"id":"c-1","revision":1,"labelSelector":[{"key":"env","value":"prod"}],
		"bindings":[{"name":"a","type":"bindings.http","metadata":[{"name":"url","value":"http://x"}],"secretMetadata":[{"name":"securityToken"}],"scopes":[]}],
		"createdAt":"2026-12-01T00:00:00Z","revisedAt":"2026-12-01T00:00:00Z",
		"rolloutStrategy":{"canaryCount":1,"batchSize":2,"soakSeconds":30,"failureBudget":0,"stepTimeoutSeconds":600},"driftPolicy":"REPORT"}}}`
	resp, _ := c.post(t, Base+"/configurations/c-1/bindings", url.Values{"csrf": {csrf}, "name": {"b"}, "type": {"bindings.http"}, "metadata": {"url=http://y"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add a binding: %d", resp.StatusCode)
	}
	var update string
	for _, b := range c.gw.bodies {
		if strings.Contains(b, "updateConfiguration") {
			update = b
		}
	}
	var sent struct {
		Variables struct {
			In struct {
				Rollout     map[string]any   `json:"rollout"`
				Bindings    []map[string]any `json:"bindings"`
				DriftPolicy string           `json:"driftPolicy"`
			} `json:"in"`
		} `json:"variables"`
	}
	if err := json.Unmarshal([]byte(update), &sent); err != nil {
		t.Fatalf("no update sent: %v", err)
	}
	if sent.Variables.In.Rollout["canaryCount"] != float64(1) || sent.Variables.In.Rollout["soakSeconds"] != float64(30) || len(sent.Variables.In.Bindings) != 2 ||
		sent.Variables.In.DriftPolicy != "REPORT" {
		t.Errorf("the update sent %s", update)
	}
	if strings.Contains(update, `"securityToken","value"`) {
		t.Error("the kept secret was sent with a value")
	}
}

// Editing an application sends back the integration system it belongs to: the Director's update replaces
// every field, and the form does not show that one.
func TestEditingAnApplicationKeepsItsIntegrationSystem(t *testing.T) {
	c := newCockpit(t, true)
	csrf := c.signIn(t, "t1", "administrator")
	c.gw.answers["application"] = `{"data":{"application":{"id":"a-1","name":"shop","providerName":"ACME","description":"old","integrationSystemID":"is-9","status":{"condition":"INITIAL","timestamp":"2026-12-01T00:00:00Z"},"bundles":{"totalCount":0,"data":[]}}}}`
	_, page := c.get(t, Base+"/applications/a-1")
	if !strings.Contains(page, `name="providerName" maxlength="256" value="ACME"`) {
		t.Error("the edit form does not show the provider as it is")
	}
	resp, _ := c.post(t, Base+"/applications/a-1/edit", url.Values{"csrf": {csrf}, "providerName": {" ACME Corp "}, "description": {""}, "healthCheckURL": {"https://shop/health"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d", resp.StatusCode)
	}
	var update struct {
		Variables struct {
			ID string
			In map[string]any
		}
	}
	for _, b := range c.gw.bodies {
		if strings.Contains(b, "updateApplication") {
			_ = json.Unmarshal([]byte(b), &update)
		}
	}
	want := map[string]any{"providerName": "ACME Corp", "healthCheckURL": "https://shop/health", "integrationSystemID": "is-9"}
	if update.Variables.ID != "a-1" || len(update.Variables.In) != len(want) {
		t.Fatalf("update sent %+v, want %v", update.Variables, want)
	}
	for k, v := range want {
		if update.Variables.In[k] != v {
			t.Errorf("update %s = %v, want %v", k, update.Variables.In[k], v)
		}
	}
}

// A bundle's documents are listed, added and shown with their Markdown rendered, and what an application
// wrote cannot run script in the Cockpit.
func TestBundleDocuments(t *testing.T) {
	c := newCockpit(t, true)
	csrf := c.signIn(t, "t1", "administrator")
	c.gw.answers["bundle"] = `{"data":{"application":{"bundle":{"id":"b-1","name":"orders","apiDefinitions":{"totalCount":0,"data":[]},"eventDefinitions":{"totalCount":0,"data":[]},
		"documents":{"totalCount":1,"data":[{"id":"doc-1","title":"guide","displayName":"Ordering guide","description":"How to order","format":"MARKDOWN","kind":"guide"}]},"instanceAuths":[]}}}}`
	_, page := c.get(t, Base+"/applications/a-1/bundles/b-1")
	for _, want := range []string{"Ordering guide", "/bundles/b-1/documents/doc-1", "/documents/doc-1/delete"} {
		if !strings.Contains(page, want) {
			t.Errorf("the bundle page lacks %q", want)
		}
	}
	resp, body := c.post(t, Base+"/applications/a-1/bundles/b-1/documents", url.Values{"csrf": {csrf}, "title": {"faq"}, "displayName": {""}, "data": {"# FAQ"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "display name") || !strings.Contains(body, "# FAQ") {
		t.Errorf("a document without a display name: %d, or the form lost what was typed", resp.StatusCode)
	}
	resp, _ = c.post(t, Base+"/applications/a-1/bundles/b-1/documents", url.Values{"csrf": {csrf}, "title": {"faq"}, "displayName": {"FAQ"}, "description": {"Questions"}, "data": {"# FAQ"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(c.gw.bodies[len(c.gw.bodies)-1], "addDocumentToBundle") {
		t.Errorf("add a document: %d", resp.StatusCode)
	}

	delete(c.gw.answers, "bundle") // the fake answers by root field, and the document query names the bundle too
	c.gw.answers["document"] = `{"data":{"application":{"bundle":{"document":{"id":"doc-1","title":"guide","displayName":"Ordering guide","description":"","format":"MARKDOWN",
		"data":"## Steps\n\n1. Pick\n2. Pay\n\n<script>alert(1)</script>\n\n[x](javascript:alert(2))"}}}}}`
	_, page = c.get(t, Base+"/applications/a-1/bundles/b-1/documents/doc-1")
	if !strings.Contains(page, "<h2>Steps</h2>") || !strings.Contains(page, "<li>Pay</li>") {
		t.Errorf("the document is not rendered:\n%s", page)
	}
	if strings.Contains(page, "alert(") {
		t.Errorf("the document page carries the application's script:\n%s", page)
	}
}

func TestSpecificationOutline(t *testing.T) {
	c := newCockpit(t, true)
	c.signIn(t, "t1", "administrator")
	c.gw.answers["apiDefinition"] = `{"data":{"application":{"bundle":{"def":{"id":"d-1","name":"orders-api","spec":{"type":"OPEN_API","format":"JSON",
		"data":"{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"Orders\",\"version\":\"2\"},\"paths\":{\"/orders\":{\"get\":{\"summary\":\"List <b>orders</b>\"}}}}"}}}}}}`
	_, page := c.get(t, Base+"/applications/a-1/bundles/b-1/api/d-1")
	for _, want := range []string{"OpenAPI 3.0.0", "<code>/orders</code>", "List &lt;b&gt;orders&lt;/b&gt;", "&#34;openapi&#34;: &#34;3.0.0&#34;"} {
		if !strings.Contains(page, want) {
			t.Errorf("the specification page lacks %q", want)
		}
	}
}

func TestServiceInstances(t *testing.T) {
	c := newCockpit(t, true)
	c.signIn(t, "t1", "administrator")
	_, page := c.get(t, Base+"/instances")
	if !strings.Contains(page, "listing service instances needs the scope runtime:read") {
		t.Errorf("the broker's refusal is not shown:\n%s", page)
	}
	c.gw.answers["/broker/v1/instances"] = `{"data":[{"id":"i-1","runtimeId":"rt-1","serviceId":"app-1","planId":"b-1","createdAt":"2026-12-01T00:00:00Z",
		"bindings":[{"id":"bd-1","createdAt":"2026-12-01T00:00:00Z"},{"id":"bd-2","createdAt":"2026-12-01T00:01:00Z","unbinding":true}]}],
		"endCursor":"c1","hasNextPage":true,"totalCount":51}`
	_, page = c.get(t, Base+"/instances?runtime=rt-1")
	for _, want := range []string{"<code>i-1</code>", "/runtimes/rt-1", "/applications/app-1/bundles/b-1", "<code>bd-2</code></a> <span class=\"meta\">unbinding", "51 instances", "after=c1"} {
		if !strings.Contains(page, want) {
			t.Errorf("the instances page lacks %q", want)
		}
	}
	if q := c.gw.bodies[len(c.gw.bodies)-1]; !strings.Contains(q, "runtimeId=rt-1") || !strings.Contains(q, "first=50") {
		t.Errorf("the broker was asked %q", q)
	}
}

// A runtime that paired with a one-time token holds a client certificate, not a client ID: it is listed as
// such, not as an empty row.
func TestCertificateCredentialsAreNamed(t *testing.T) {
	c := newCockpit(t, true)
	c.signIn(t, "t1", "administrator")
	c.gw.answers["runtime"] = `{"data":{"runtime":{"id":"r-1","name":"edge","status":{"condition":"CONNECTED","timestamp":"2026-12-01T00:00:00Z"}}}}`
	c.gw.answers["o: runtime"] = `{"data":{"o":{"auths":[{"id":"sa-1","auth":null},{"id":"sa-2","auth":{"credential":{"clientId":"client-7","clientSecret":"","url":"https://t"}}}]}}}`
	_, page := c.get(t, Base+"/runtimes/r-1")
	for _, want := range []string{"Client certificate, from pairing with a one-time token", "<code>client-7</code>", `aria-label="Withdraw the client certificate"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the runtime page lacks %q", want)
		}
	}
	if strings.Contains(page, "<td><code></code></td>") {
		t.Error("the runtime page lists credentials with an empty client ID")
	}
}

// A runtime's page shows whether it runs what it should, its last drift and an automatic rollback.
func TestRuntimeDriftIsShown(t *testing.T) {
	c := newCockpit(t, true)
	c.signIn(t, "t1", "administrator")
	c.gw.answers["runtime"] = `{"data":{"runtime":{"id":"r-1","name":"edge","status":{"condition":"CONNECTED","timestamp":"2026-12-01T00:00:00Z"}}}}`
	c.gw.answers["runtimeConfiguration"] = `{"data":{"runtimeConfiguration":{"revision":3,"driftPolicy":"REPORT","bindings":[],"sources":[]},
		"runtimeConfigurationStatus":{"revision":3,"status":"DRIFTED","reportedAt":"2026-12-01T00:00:00Z","drift":[{"component":"logging","kind":"MISSING","resource":"COMPONENT"}],"driftCorrected":false},
		"runtimeConfigurationState":{"desiredRevision":3,"appliedRevision":3,"inSync":false,
			"drift":{"revision":3,"items":[{"component":"logging","kind":"MISSING","resource":"COMPONENT"}],"detectedAt":"2026-12-01T00:00:00Z","resolvedAt":null,"corrected":false},
			"lastAutoRollback":{"configurationID":"c-9","failedRevision":4,"restoredRevision":2,"newRevision":5,"reason":"the agent reported revision 4 FAILED","at":"2026-12-01T00:00:00Z"}}}}`
	_, page := c.get(t, Base+"/runtimes/r-1")
	for _, want := range []string{"DRIFTED", "logging: component missing", "still drifted", "only reported", "revision 4 failed, back to 2 as revision 5", "/configurations/c-9"} {
		if !strings.Contains(page, want) {
			t.Errorf("the runtime page lacks %q", want)
		}
	}
}

func TestFindApplicationByName(t *testing.T) {
	c := newCockpit(t, true)
	c.signIn(t, "t1", "viewer")
	_, page := c.get(t, Base+"/applications?name=App+Shop")
	if !strings.Contains(page, "No application is named App Shop") {
		t.Errorf("a name nobody has: the page does not say so")
	}
	c.gw.answers["applicationByName"] = `{"data":{"applicationByName":{"id":"a-7","name":"app-shop","labels":{},"status":{"condition":"INITIAL","timestamp":"2026-12-01T00:00:00Z"},"bundles":{"totalCount":0}}}}`
	_, page = c.get(t, Base+"/applications?name=App+Shop&filter=env%3Dprod")
	if !strings.Contains(page, `<a href="/cockpit/applications/a-7">app-shop</a>`) || !strings.Contains(page, "The application named App Shop") {
		t.Errorf("the application found is not listed:\n%s", page)
	}
	if q := c.gw.bodies[len(c.gw.bodies)-1]; !strings.Contains(q, `"name":"App Shop"`) || strings.Contains(q, "filter") {
		t.Errorf("the Director was asked %s", q)
	}
}

// The overview lists the runtimes whose configuration failed to apply or drifted, from the Governor, and
// the instance auths that failed, from the Director.
func TestOverviewListsFailedAppliesAndDrift(t *testing.T) {
	c := newCockpit(t, true)
	c.signIn(t, "t1", "viewer")
	c.gw.answers["runtimeConfigurationStatuses"] = `{"data":{"runtimeConfigurationStatuses":{"totalCount":41,"data":[
		{"runtimeID":"rt-9","revision":4,"status":"FAILED","reason":"component logging not loaded","reportedAt":"2026-12-01T00:00:00Z","drift":[{"component":"logging","kind":"MODIFIED","resource":"SECRET"}],"driftCorrected":false}]}}}`
	c.gw.answers["bundleInstanceAuthsByCondition"] = `{"data":{"bundleInstanceAuthsByCondition":{"totalCount":3,"data":[
		{"applicationID":"a-1","bundleID":"b-1","instanceAuth":{"id":"ia-7","status":{"condition":"FAILED","timestamp":"2026-12-01T00:00:00Z","message":"no seats left","reason":"QuotaExceeded"}}}]}}}`
	_, page := c.get(t, Base+"/")
	for _, want := range []string{"Credential requests that failed (3)", `href="/cockpit/applications/a-1/bundles/b-1#instance-auths"`, "QuotaExceeded: no seats left",
		"Configuration not applied (41)", "Drifted from their configuration (41)", `href="/cockpit/runtimes/rt-9"`,
		"component logging not loaded", "logging: secret modified"} {
		if !strings.Contains(page, want) {
			t.Errorf("the overview lacks %q", want)
		}
	}
	var asked []string
	for _, b := range c.gw.bodies {
		if strings.Contains(b, "runtimeConfigurationStatuses") {
			var q struct{ Variables struct{ Status string } }
			_ = json.Unmarshal([]byte(b), &q)
			asked = append(asked, q.Variables.Status)
		}
	}
	if len(asked) != 2 || !slices.Contains(asked, "FAILED") || !slices.Contains(asked, "DRIFTED") {
		t.Errorf("the Governor was asked for %v", asked)
	}
}
