package e2e

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cockpitUser signs in to the Cockpit through the gateway with the development sign-in and returns a
// client that carries the session, as a browser would.
func cockpitUser(tb testing.TB, tenant, role string) *http.Client {
	tb.Helper()
	if err := startCockpit(); err != nil {
		tb.Fatalf("start the Cockpit: %v", err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: time.Minute}
	resp, err := c.PostForm(cockpitURL("/signin/dev"), url.Values{"tenant": {tenant}, "role": {role}, "next": {"/cockpit/"}})
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("development sign-in: %d", resp.StatusCode)
	}
	return c
}

// listedApplications matches the rows of the applications page.
var listedApplications = regexp.MustCompile(`<tr><td><a href="/cockpit/applications/[^"/]+">`)

// measureCockpitPages loads a page of the Cockpit's application list b.N times and reports p50/p99; the
// page must list exactly a page of applications and say how many match.
func measureCockpitPages(b *testing.B, c *http.Client, query string, wantTotal int) {
	durations := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		resp, err := c.Get(cockpitURL("/applications?" + query))
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		durations = append(durations, time.Since(start))
		page := string(body)
		if resp.StatusCode != http.StatusOK || len(listedApplications.FindAllString(page, -1)) != 50 ||
			!strings.Contains(page, strconv.Itoa(wantTotal)+" applications") {
			b.Fatalf("the page (%d) lists %d applications, want 50 of %d", resp.StatusCode, len(listedApplications.FindAllString(page, -1)), wantTotal)
		}
	}
	reportLatency(b, durations)
}

// measureCockpitSearch finds an application by name (given unnormalized, as a person types it) b.N times
// and reports p50/p99; the page must list exactly that one application.
func measureCockpitSearch(b *testing.B, c *http.Client, name string) {
	durations := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		resp, err := c.Get(cockpitURL("/applications?name=" + url.QueryEscape(name)))
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		durations = append(durations, time.Since(start))
		if page := string(body); resp.StatusCode != http.StatusOK || len(listedApplications.FindAllString(page, -1)) != 1 ||
			!strings.Contains(page, "The application named") {
			b.Fatalf("finding %q (%d) lists %d applications, want 1", name, resp.StatusCode, len(listedApplications.FindAllString(page, -1)))
		}
	}
	reportLatency(b, durations)
}
