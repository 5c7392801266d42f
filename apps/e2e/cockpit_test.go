package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
)

// startCockpit starts the Cockpit once, with development sign-in on (its key is the stack's, which the
// gateway trusts) and its API calls going to the stack's gateway.
var startCockpit = sync.OnceValue(func() error {
	return stack.StartApp(context.Background(), stacktest.App{ID: "cockpit", Env: map[string]string{
		"COCKPIT_DEV_SIGNIN":  "true",
		"COCKPIT_GATEWAY_URL": stack.AppURL("gateway"),
		// Short streams, so that the tests see pages carry on across reconnects.
		"COCKPIT_LIVE_MAX_AGE": "10s",
	}})
})

// browser starts a headless Debian Chromium of its own (its own cookies) for one user. Without a browser
// the test skips, unless the suite is required to run everything.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if stacktest.Required() {
			t.Fatal("no Chromium: scripts/install.sh installs Debian's chromium package")
		}
		t.Skip("no Chromium installed (scripts/install.sh installs it): the Cockpit's browser tests cannot run")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first action starts the browser, which lives as long as ctx: no timeout on that one.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// cockpitURL is the Cockpit's page at path, through the gateway as users reach it.
func cockpitURL(path string) string { return stack.AppURL("gateway") + "/cockpit" + path }

// screenshot writes the page as a PNG under the artifacts folder (MP_ARTIFACTS_DIR, else bin/artifacts/
// in the repository), which the README's pictures come from.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("MP_ARTIFACTS_DIR")
	if dir == "" {
		root, err := stacktest.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "bin", "artifacts")
	}
	dir = filepath.Join(dir, "cockpit")
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// pageWait bounds each step of a browser test.
const pageWait = 30 * time.Second

// do runs browser steps, failing the test with the page's text when one fails.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	get(t, ctx, what, chromedp.Steps(steps...))
}

// get runs one browser action for its value, failing the test with the page's text when it fails.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, pageWait)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v\npage:\n%s", what, err, body)
	}
	return v
}

// js runs a script on the page for its effect.
func js(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](expr)(ctx, tg)
		return err
	})
}

// text is the text of the first element the CSS selector sel matches, once there is one. It finds and
// reads the element in one evaluation: the Cockpit's live refresh replaces parts of the page as events
// arrive, and an element found in one round trip to the browser (as chromedp.Text finds it) may be gone by
// the next, which reads it.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	expr := fmt.Sprintf(`(() => { const el = document.querySelector(%q); return el ? el.innerText : null })()`, sel)
	read := chromedp.Action[string](func(ctx context.Context, tg *chromedp.Target) (string, error) {
		for {
			// An error is most likely a navigation under way (its execution context destroyed): try again
			// until the step's time is up, as chromedp's queries wait.
			v, err := chromedp.Evaluate[*string](expr)(ctx, tg)
			if err == nil && v != nil {
				return *v, nil
			}
			select {
			case <-ctx.Done():
				return "", fmt.Errorf("no element matches %s: %w", sel, errors.Join(ctx.Err(), err))
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	return strings.TrimSpace(get(t, ctx, "read "+sel, read))
}

// signIn signs in with the development sign-in as role of tenant, starting from a page that needs it.
func signIn(t *testing.T, ctx context.Context, tenant, role string) {
	t.Helper()
	do(t, ctx, "development sign-in",
		chromedp.Navigate(cockpitURL("/")),
		chromedp.WaitVisible(chromedp.CSS(`#tenant`)),
		chromedp.SendKeys(chromedp.CSS(`#tenant`), tenant),
		chromedp.Click(chromedp.CSS(`input[name=role][value=`+role+`]`)),
		chromedp.Submit(chromedp.CSS(`#tenant`)),
		// Only signed-in pages have the sections' navigation.
		chromedp.WaitVisible(chromedp.CSS(`header nav`)),
	)
	if got := text(t, ctx, "main h1"); got != "Overview of "+tenant {
		t.Fatalf("after sign-in the page says %q", got)
	}
}

// The Cockpit in a real browser, through the gateway: a development sign-in; an application registered,
// a label refused by its definition's schema (as typed, and again by the Director) and then set, and the
// application paired; a local runtime provisioned, reaching CONNECTED on its page without a reload; a
// Governor configuration for it (a secret that is never shown again) reaching APPLIED live, a second
// revision, its diff and a rollback applied in turn; and a read-only user who sees the actions disabled
// with the reason.
func TestCockpitInABrowser(t *testing.T) {
	if err := startCockpit(); err != nil {
		t.Fatalf("start the Cockpit: %v", err)
	}
	if err := startProvisioner(); err != nil {
		t.Fatalf("start the Provisioner: %v", err)
	}
	const tenant = "tenant-cockpit"
	ok(t, gql(t, tenant, `mutation { createLabelDefinition(in: {key: "env",
		schema: "{\"type\": \"string\", \"enum\": [\"dev\", \"prod\"]}"}) { key } }`, nil), nil)
	ctx := browser(t)
	signIn(t, ctx, tenant, "administrator")
	do(t, ctx, "development banner", chromedp.WaitVisible(chromedp.CSS(`.dev`)))

	// Register an application from the list page.
	do(t, ctx, "register an application",
		chromedp.Click(chromedp.CSS(`nav a[href$="/applications"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#app-name`)),
		chromedp.SendKeys(chromedp.CSS(`#app-name`), "shop"),
		chromedp.SendKeys(chromedp.CSS(`#app-provider`), "ACME"),
		chromedp.Submit(chromedp.CSS(`#app-name`)),
		chromedp.WaitVisible(chromedp.CSS(`#app-facts`)),
	)
	if got := text(t, ctx, "main h1"); got != "shop" {
		t.Fatalf("the registered application's page is titled %q", got)
	}

	// A value outside the schema: the form says so as it is typed, and the Director refuses it when sent.
	do(t, ctx, "type a label the schema refuses",
		chromedp.SendKeys(chromedp.CSS(`#label-key`), "env"),
		chromedp.SendKeys(chromedp.CSS(`#label-value`), "staging"),
		chromedp.WaitVisible(chromedp.CSS(`#label-check.bad`)),
	)
	if got := text(t, ctx, "#label-check"); !strings.Contains(got, "Does not satisfy the schema of env") {
		t.Fatalf("as typed, the label check says %q", got)
	}
	screenshot(t, ctx, "application-label-refused")
	do(t, ctx, "send the refused label", chromedp.Submit(chromedp.CSS(`#label-value`)), chromedp.WaitVisible(chromedp.CSS(`#error`)))
	if got := text(t, ctx, "#error"); !strings.Contains(got, "does not satisfy") || !strings.Contains(got, "Request ID") {
		t.Fatalf("the refusal shows %q; want the schema's reason and the request ID", got)
	}
	labels := get(t, ctx, "labels after the refusal", chromedp.Text(chromedp.CSS(`table`)))
	if strings.Contains(labels, "staging") {
		t.Fatalf("the refused value was set: %q", labels)
	}

	do(t, ctx, "set a label the schema accepts",
		js(`document.querySelector('#label-value').value = ''`),
		chromedp.SendKeys(chromedp.CSS(`#label-value`), "prod"),
		chromedp.WaitVisible(chromedp.CSS(`#label-check.good`)),
		chromedp.Submit(chromedp.CSS(`#label-value`)),
		chromedp.WaitVisible(`//th[@scope="row" and text()="env"]`),
	)
	row := get(t, ctx, "the label's row", chromedp.Text(`//th[@scope="row" and text()="env"]/following-sibling::td[1]`))
	if strings.TrimSpace(row) != `"prod"` {
		t.Fatalf("label env shows %q, want \"prod\"", row)
	}

	// Pair: a one-time token with its expiry, shown once.
	do(t, ctx, "pair the application",
		chromedp.Click(`//button[contains(., "Pair")]`),
		chromedp.WaitVisible(chromedp.CSS(`#pairing`)),
	)
	token := get(t, ctx, "the one-time token", chromedp.Value(chromedp.CSS(`#pair-token`)))
	expires := get(t, ctx, "its expiry", chromedp.AttributeValue(chromedp.CSS(`#pairing time`), "datetime")).Value
	if len(token) < 16 || expires == "" {
		t.Fatalf("pairing shows token %q expiring %q", token, expires)
	}
	screenshot(t, ctx, "application")

	// Client credentials: the secret once, then only the client ID.
	do(t, ctx, "client credentials for the application",
		chromedp.Click(`//button[normalize-space(.)="Create client credentials"]`),
		chromedp.WaitVisible(chromedp.CSS(`#new-credentials`)),
	)
	clientID := get(t, ctx, "client id", chromedp.Value(chromedp.CSS(`#cc-id`)))
	if secret := get(t, ctx, "client secret", chromedp.Value(chromedp.CSS(`#cc-secret`))); clientID == "" || len(secret) < 16 {
		t.Fatalf("client credentials %q / %q", clientID, secret)
	}
	do(t, ctx, "the application again", chromedp.Navigate(cockpitURL("/applications/"+get(t, ctx, "app id",
		chromedp.Evaluate[string](`document.querySelector('.facts dd code').textContent`)))), chromedp.WaitVisible(chromedp.CSS(`#credentials`)))
	if got := text(t, ctx, "#credentials"); !strings.Contains(got, clientID) || strings.Contains(get(t, ctx, "page", chromedp.Evaluate[string](`document.body.innerHTML`)), "cc-secret") {
		t.Fatalf("after a reload the credentials section shows:\n%s", got)
	}

	// A webhook added, then removed.
	do(t, ctx, "add a webhook",
		chromedp.SendKeys(chromedp.CSS(`#wh-url`), "http://127.0.0.1:1/hook"),
		chromedp.Submit(chromedp.CSS(`#wh-url`)),
		chromedp.WaitVisible(`//table[@id="webhooks"]//code[text()="http://127.0.0.1:1/hook"]`),
		chromedp.Click(`//table[@id="webhooks"]//button[normalize-space(.)="Remove"]`),
		chromedp.WaitVisible(`//table[@id="webhooks"]//td[text()="No webhooks."]`),
	)

	// Edit the application in place; the provider it was registered with stays.
	appID := get(t, ctx, "app id", chromedp.Evaluate[string](`document.querySelector('.facts dd code').textContent`))
	do(t, ctx, "edit the application",
		chromedp.Click(chromedp.CSS(`#edit-app summary`)),
		js(`document.querySelector('#ed-desc').value = 'The shop front'`),
		chromedp.Submit(chromedp.CSS(`#ed-desc`)),
		chromedp.WaitVisible(`//dl[@id="app-facts"]//dd[text()="The shop front"]`),
	)
	if got := text(t, ctx, "#app-facts"); !strings.Contains(got, "ACME") {
		t.Fatalf("after the edit the facts are %q; the provider was lost", got)
	}

	// Found by name, typed as a person types it.
	do(t, ctx, "find the application by name",
		chromedp.Navigate(cockpitURL("/applications")),
		chromedp.SendKeys(chromedp.CSS(`#app-search`), "SHOP"),
		chromedp.Submit(chromedp.CSS(`#app-search`)),
		// The list before the search shows shop too: wait for the answer's own line, or the next navigation
		// may cut the search's short (net::ERR_ABORTED).
		chromedp.WaitVisible(`//p[@role="status"][contains(., "The application named SHOP")]`),
		chromedp.WaitVisible(`//div[@id="app-list"]//a[text()="shop"]`),
	)
	if got := get(t, ctx, "rows found", chromedp.Evaluate[int](`document.querySelectorAll('#app-list tbody a').length`)); got != 1 {
		t.Fatalf("finding shop lists %d applications", got)
	}

	// A bundle with an OpenAPI specification, registered as an application would: its page outlines the
	// operations, and a document written on the page is read back rendered, the application's script gone.
	var bundle struct {
		AddBundle struct{ ID string }
	}
	ok(t, gql(t, tenant, `mutation($app: ID!, $spec: CLOB!) { addBundle(applicationID: $app, in: {name: "orders",
		apiDefinitions: [{name: "orders-api", targetURL: "https://shop.example.com/api", spec: {data: $spec, type: OPEN_API, format: YAML}}]}) { id } }`,
		map[string]any{"app": appID, "spec": "openapi: 3.0.3\ninfo: {title: Orders, version: '1'}\npaths:\n  /orders:\n    get: {summary: List orders}\n    post: {summary: Place an order}\n"}), &bundle)
	do(t, ctx, "the bundle's specification",
		chromedp.Navigate(cockpitURL("/applications/"+appID)),
		chromedp.Click(`//a[text()="orders"]`),
		chromedp.Click(`//a[contains(., "OPEN_API")]`),
		chromedp.WaitVisible(chromedp.CSS(`#outline`)),
	)
	if got := text(t, ctx, "#outline"); !strings.Contains(got, "/orders") || !strings.Contains(got, "Place an order") || !strings.Contains(got, "OpenAPI 3.0.3") {
		t.Fatalf("the specification's outline shows %q", got)
	}
	screenshot(t, ctx, "specification")
	do(t, ctx, "add a document",
		chromedp.Navigate(cockpitURL("/applications/"+appID+"/bundles/"+bundle.AddBundle.ID)),
		chromedp.Click(`//summary[text()="Add a document…"]`),
		chromedp.SendKeys(chromedp.CSS(`#doc-title`), "guide"),
		chromedp.SendKeys(chromedp.CSS(`#doc-name`), "Ordering guide"),
		chromedp.SendKeys(chromedp.CSS(`#doc-desc`), "How to order"),
		js("document.querySelector('#doc-data').value = '## Steps\\n\\n1. Pick\\n2. Pay\\n\\n<script>window.pwned = 1</script>'"),
		chromedp.Submit(chromedp.CSS(`#doc-title`)),
		chromedp.Click(`//table[@id="documents"]//a[text()="Ordering guide"]`),
		chromedp.WaitVisible(chromedp.CSS(`#doc-text h2`)),
	)
	if got := text(t, ctx, "#doc-text"); !strings.Contains(got, "Steps") || !strings.Contains(got, "Pay") {
		t.Fatalf("the document reads %q", got)
	}
	if pwned := get(t, ctx, "script from the document", chromedp.Evaluate[bool](`window.pwned === 1 || document.querySelector('#doc-text script') !== null`)); pwned {
		t.Fatal("the document's script made it into the page")
	}

	// A template, and an application registered from it.
	do(t, ctx, "template",
		chromedp.Navigate(cockpitURL("/templates")),
		chromedp.WaitVisible(chromedp.CSS(`#tpl-name`)),
		chromedp.SendKeys(chromedp.CSS(`#tpl-name`), "crm"),
		js(`document.querySelector('#tpl-input').value = '{"name": "{{name}}", "providerName": "ACME CRM"}'`),
		chromedp.Submit(chromedp.CSS(`#tpl-name`)),
		chromedp.WaitVisible(`//h2[text()="crm"]`),
		chromedp.SendKeys(`//h2[text()="crm"]/following-sibling::form//input[@name="v.name"]`, "crm-eu"),
		chromedp.Submit(`//h2[text()="crm"]/following-sibling::form//input[@name="v.name"]`),
		chromedp.WaitVisible(chromedp.CSS(`#app-facts`)),
	)
	if got := text(t, ctx, "main h1"); got != "crm-eu" || !strings.Contains(text(t, ctx, "#app-facts"), "ACME CRM") {
		t.Fatalf("the application from the template: %q", got)
	}

	// Provision a local runtime and watch its page follow it to CONNECTED without being reloaded: a mark
	// left on the page's window would be gone after a reload.
	do(t, ctx, "provision a local runtime",
		chromedp.Click(chromedp.CSS(`nav a[href$="/runtimes"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#rt-name`)),
		chromedp.SendKeys(chromedp.CSS(`#rt-name`), "edge-cockpit"),
		chromedp.Submit(chromedp.CSS(`#rt-name`)),
		chromedp.WaitVisible(chromedp.CSS(`#operations`)),
		js(`window.notReloaded = true`),
	)
	// The page is at /cockpit/runtimes/<id>.
	runtimeID := get(t, ctx, "runtime id", chromedp.Evaluate[string](`location.pathname.split("/").pop()`))
	if runtimeID == "" || runtimeID == "runtimes" {
		t.Fatalf("provisioning did not open the runtime's page (%q)", runtimeID)
	}
	t.Cleanup(func() { deprovision(t, tenant, runtimeID) })
	screenshot(t, ctx, "runtime-provisioning")
	waitCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(waitCtx, chromedp.WaitVisible(`//span[@id="runtime-status" and text()="CONNECTED"]`)); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		t.Fatalf("the runtime's page never showed CONNECTED: %v\n%s", err, body)
	}
	notReloaded := get(t, ctx, "the page was not reloaded", chromedp.Evaluate[bool](`window.notReloaded === true`))
	if !notReloaded {
		t.Fatal("the page was reloaded to show CONNECTED; it should have refreshed itself")
	}
	do(t, ctx, "operation succeeded", chromedp.WaitVisible(`//table[@id="operations"]//span[text()="Succeeded"]`))
	if hb := text(t, ctx, "#runtime-heartbeat"); !strings.HasSuffix(hb, "s ago") {
		t.Errorf("a CONNECTED runtime's last heartbeat shows as %q", hb)
	}

	// Configure it: a binding with a secret, which the page never shows again; the runtime's page then
	// follows its agent to APPLIED on its own.
	do(t, ctx, "create a configuration for the runtime",
		chromedp.Click(chromedp.CSS(`a[href*="configurations?runtime="]`)),
		chromedp.WaitVisible(chromedp.CSS(`#b-name`)),
		chromedp.SendKeys(chromedp.CSS(`#b-name`), "logging"),
		js(`document.querySelector('#b-type').value = 'bindings.http'`),
		chromedp.SendKeys(chromedp.CSS(`#b-meta`), "url=http://127.0.0.1:1/first"),
		chromedp.SendKeys(chromedp.CSS(`#b-secret`), "securityToken=s3cret-value"),
		chromedp.Submit(chromedp.CSS(`#b-name`)),
		chromedp.WaitVisible(chromedp.CSS(`#config-revision`)),
	)
	configURL := get(t, ctx, "configuration page", chromedp.Evaluate[string](`location.pathname`))
	if page := text(t, ctx, "main"); strings.Contains(page, "s3cret-value") || !strings.Contains(page, "securityToken (set)") {
		t.Fatalf("the configuration page shows the secret, or not that it is set:\n%s", page)
	}
	appliedAs := func(what string) string {
		t.Helper()
		do(t, ctx, "the runtime's page", chromedp.Navigate(cockpitURL("/runtimes/"+runtimeID)), chromedp.WaitVisible(chromedp.CSS(`#runtime-config`)),
			js(`window.notReloaded = true`))
		waitCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		// The agent reports the revision the runtime should run, APPLIED, and the page shows it unasked.
		err := chromedp.Do(waitCtx, chromedp.WaitVisible(`//span[@id="config-status" and text()="APPLIED"]`),
			chromedp.Poll[chromedp.Void](`document.getElementById("config-applied")?.textContent === document.getElementById("config-should")?.textContent`))
		if err != nil {
			body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#runtime-config")))
			t.Fatalf("%s: the runtime's page never showed its configuration APPLIED: %v\n%s", what, err, body)
		}
		if !get(t, ctx, "not reloaded", chromedp.Evaluate[bool](`window.notReloaded === true`)) {
			t.Fatalf("%s: the page was reloaded", what)
		}
		return text(t, ctx, "#config-applied")
	}
	first := appliedAs("the new configuration")
	screenshot(t, ctx, "runtime")

	// A second revision, its diff against the first, and a rollback to the first as a third revision.
	do(t, ctx, "add a binding",
		chromedp.Navigate(stack.AppURL("gateway")+configURL),
		chromedp.WaitVisible(chromedp.CSS(`#b-name`)),
		chromedp.SendKeys(chromedp.CSS(`#b-name`), "second"),
		js(`document.querySelector('#b-type').value = 'bindings.http'`),
		chromedp.SendKeys(chromedp.CSS(`#b-meta`), "url=http://127.0.0.1:1/second"),
		chromedp.Submit(chromedp.CSS(`#b-name`)),
		chromedp.WaitVisible(`//dd[@id="config-revision" and starts-with(normalize-space(.), "2")]`),
		chromedp.Click(`//table[@id="revisions"]//a[text()="Diff"]`),
		chromedp.WaitVisible(chromedp.CSS(`#diff`)),
	)
	if d := text(t, ctx, "#diff pre"); !strings.Contains(d, "+binding second (bindings.http)") || strings.Contains(d, "s3cret") ||
		!strings.Contains(d, "securityToken = (secret)") {
		t.Fatalf("the diff of revision 1 against 2:\n%s", d)
	}
	screenshot(t, ctx, "configuration")
	do(t, ctx, "roll back to revision 1",
		chromedp.Click(`//button[normalize-space(.)="Roll back to 1"]`),
		chromedp.WaitVisible(`//dd[@id="config-revision" and contains(., "rolled back to revision 1")]`),
	)
	if got := text(t, ctx, "#bindings"); strings.Contains(got, "second") || !strings.Contains(got, "logging") {
		t.Fatalf("after the rollback the bindings are:\n%s", got)
	}
	if last := appliedAs("the rollback"); last == first {
		t.Errorf("the rollback did not make a new effective revision (still %s)", last)
	}

	// The list at phone width: nothing wider than the screen.
	// A label selector says how many runtimes it matches before a configuration is saved.
	do(t, ctx, "selector preview",
		chromedp.Navigate(cockpitURL("/configurations")),
		chromedp.WaitVisible(chromedp.CSS(`#c-selector`)),
		chromedp.SendKeys(chromedp.CSS(`#c-selector`), "provisioner_backend=local"),
		chromedp.WaitVisible(chromedp.CSS(`#selector-check.good`)),
	)
	if got := text(t, ctx, "#selector-check"); got != "This selector matches 1 runtime now." {
		t.Errorf("the selector preview says %q", got)
	}

	// Saved with a staged rollout (a canary of one, no soak): the configuration's page follows the rollout
	// to SUCCEEDED by itself, with the runtime APPLIED in it.
	do(t, ctx, "a configuration rolled out in steps",
		js(`document.querySelector('input[name=target][value=selector]').checked = true`),
		chromedp.SendKeys(chromedp.CSS(`#r-canary`), "1"),
		chromedp.SendKeys(chromedp.CSS(`#r-soak`), "0"),
		chromedp.SendKeys(chromedp.CSS(`#b-name`), "staged"),
		js(`document.querySelector('#b-type').value = 'bindings.http'`),
		chromedp.SendKeys(chromedp.CSS(`#b-meta`), "url=http://127.0.0.1:1/staged"),
		chromedp.Submit(chromedp.CSS(`#b-name`)),
		chromedp.WaitVisible(chromedp.CSS(`#config-revision`)),
		js(`window.notReloaded = true`),
	)
	if got := text(t, ctx, ".facts"); !strings.Contains(got, "in steps: canary 1 runtime(s)") {
		t.Errorf("the configuration's strategy shows as:\n%s", got)
	}
	rolloutCtx, cancelRollout := context.WithTimeout(ctx, 60*time.Second)
	defer cancelRollout()
	// The rollout starts with the revision; the page shows it once the Governor has planned it.
	for {
		err := chromedp.Do(rolloutCtx, chromedp.WaitVisible(`//span[@id="rollout-phase" and text()="SUCCEEDED"]`))
		if err == nil {
			break
		}
		if rolloutCtx.Err() != nil {
			body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
			t.Fatalf("the rollout never showed SUCCEEDED: %v\n%s", err, body)
		}
	}
	if got := text(t, ctx, "#rollout-runtimes"); !strings.Contains(got, runtimeID) || !strings.Contains(got, "APPLIED") {
		t.Errorf("the rollout's runtimes:\n%s", got)
	}
	screenshot(t, ctx, "rollout")

	// A label definition's schema is checked as it is typed, then saved.
	do(t, ctx, "label definition",
		chromedp.Navigate(cockpitURL("/labels")),
		chromedp.WaitVisible(chromedp.CSS(`#def-key`)),
		chromedp.SendKeys(chromedp.CSS(`#def-key`), "tier"),
		chromedp.SendKeys(chromedp.CSS(`#def-schema`), `{"type": "strin`),
		chromedp.WaitVisible(chromedp.CSS(`#def-check.bad`)),
		chromedp.SendKeys(chromedp.CSS(`#def-schema`), `g", "enum": ["gold", "silver"]}`),
		chromedp.WaitVisible(chromedp.CSS(`#def-check.good`)),
		chromedp.Submit(chromedp.CSS(`#def-key`)),
		chromedp.WaitVisible(`//th[@scope="row" and text()="tier"]`),
	)

	// A scenario, and runtimes labelled provisioner_backend=local put into it automatically.
	do(t, ctx, "scenario and assignment",
		chromedp.Navigate(cockpitURL("/scenarios")),
		chromedp.WaitVisible(chromedp.CSS(`#sc-name`)),
		chromedp.SendKeys(chromedp.CSS(`#sc-name`), "blue"),
		chromedp.Submit(chromedp.CSS(`#sc-name`)),
		chromedp.WaitVisible(`//th[@scope="row" and text()="blue"]`),
		js(`document.querySelector('#as-scenario').value = 'blue'`),
		chromedp.SendKeys(chromedp.CSS(`#as-key`), "provisioner_backend"),
		chromedp.SendKeys(chromedp.CSS(`#as-value`), "local"),
		chromedp.Submit(chromedp.CSS(`#as-key`)),
		chromedp.WaitVisible(`//th[text()="blue"]/following-sibling::td//span[@class="chip" and contains(., "provisioner_backend")]`),
	)
	screenshot(t, ctx, "scenarios")

	do(t, ctx, "phone width",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(cockpitURL("/runtimes")),
		chromedp.WaitVisible(chromedp.CSS(`#runtime-list`)),
	)
	overflow := get(t, ctx, "overflow", chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	if overflow {
		t.Error("the runtimes page is wider than a 390 px screen")
	}
	screenshot(t, ctx, "runtimes-phone")
	do(t, ctx, "back to desktop width", chromedp.EmulateViewport(1280, 900))

	do(t, ctx, "overview", chromedp.Navigate(cockpitURL("/")), chromedp.WaitVisible(chromedp.CSS(`#tiles`)))
	if got := text(t, ctx, "#tiles"); !strings.Contains(got, "CONNECTED 1") {
		t.Errorf("the overview counts:\n%s", got)
	}
	// Recent activity: the tenant's own changes from the audit trail, the runtimes' heartbeats left out.
	waitCtx, cancelActivity := context.WithTimeout(ctx, 30*time.Second)
	defer cancelActivity()
	for {
		do(t, ctx, "overview", chromedp.Navigate(cockpitURL("/")), chromedp.WaitVisible(chromedp.CSS(`#tiles`)))
		page := text(t, ctx, "main")
		if strings.Contains(page, "registerApplicationFromTemplate") && strings.Contains(page, "rollbackConfiguration") {
			if strings.Contains(page, "heartbeat") {
				t.Error("heartbeats are listed as recent activity")
			}
			break
		}
		if waitCtx.Err() != nil {
			t.Fatalf("the overview's recent activity lacks the suite's changes:\n%s", page)
		}
		time.Sleep(time.Second)
	}
	screenshot(t, ctx, "overview")

	t.Run("a viewer sees actions disabled, with why", func(t *testing.T) {
		vctx := browser(t)
		signIn(t, vctx, tenant, "viewer")
		do(t, vctx, "applications as a viewer", chromedp.Navigate(cockpitURL("/applications")),
			chromedp.WaitVisible(chromedp.CSS(`#app-name`)))
		disabled := get(t, vctx, "register button", chromedp.Evaluate[bool](`document.querySelector('form.card button[type=submit]').disabled`))
		if !disabled {
			t.Error("a viewer's Register button is enabled")
		}
		if got := text(t, vctx, ".why"); !strings.Contains(got, "application:write") {
			t.Errorf("the reason shown is %q", got)
		}
		screenshot(t, vctx, "applications-viewer")
		// The list still works: the application registered above is on it.
		list := get(t, vctx, "list", chromedp.Text(chromedp.CSS(`#app-list`)))
		if !strings.Contains(list, "shop") {
			t.Errorf("the viewer's list lacks the application: %q", list)
		}
	})

	t.Run("service instances a runtime made through the System Broker", func(t *testing.T) {
		needBroker(t)
		const brokerTenant = "tenant-cockpit-broker"
		w := newBrokerWorld(t, brokerTenant)
		provision := map[string]any{"service_id": w.app, "plan_id": w.syncPlan}
		wantOSB(t, "provision", brokerDo(t, "PUT", "/v2/service_instances/inst-cockpit", basic(w.clientID, w.secret, "2.17"), provision), http.StatusCreated, "")
		wantOSB(t, "bind", brokerDo(t, "PUT", "/v2/service_instances/inst-cockpit/service_bindings/bind-cockpit", basic(w.clientID, w.secret, "2.17"), provision), http.StatusCreated, "")
		bctx := browser(t)
		signIn(t, bctx, brokerTenant, "viewer")
		do(t, bctx, "the service instances page",
			chromedp.Click(chromedp.CSS(`nav a[href$="/instances"]`)),
			chromedp.WaitVisible(`//table[contains(@class, "instances")]//code[text()="inst-cockpit"]`),
		)
		if got := text(t, bctx, "table.instances"); !strings.Contains(got, "bind-cockpit") || !strings.Contains(got, w.runtimeID) {
			t.Fatalf("the instances page shows %q", got)
		}
		screenshot(t, bctx, "service-instances")
		do(t, bctx, "the runtime's page", chromedp.Navigate(cockpitURL("/runtimes/"+w.runtimeID)),
			chromedp.WaitVisible(`//section[@id="runtime-instances"]//code[text()="inst-cockpit"]`))
		do(t, bctx, "the binding's instance auth", chromedp.Click(`//section[@id="runtime-instances"]//a[code[text()="bind-cockpit"]]`),
			chromedp.WaitVisible(`//div[@id="instance-auths"]//code[text()="bind-cockpit"]`))
	})

	t.Run("the keyboard reaches the skip link first", func(t *testing.T) {
		do(t, ctx, "tab", chromedp.Navigate(cockpitURL("/applications")), chromedp.WaitVisible(chromedp.CSS(`main`)),
			chromedp.KeyEvent("\t"))
		focused := get(t, ctx, "focused element", chromedp.Evaluate[string](`document.activeElement.textContent`))
		if strings.TrimSpace(focused) != "Skip to content" {
			t.Errorf("the first Tab focuses %q", focused)
		}
	})
	fmt.Println("cockpit: screenshots under bin/artifacts/cockpit (or MP_ARTIFACTS_DIR)")
}
