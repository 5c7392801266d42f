package e2e

import (
	"slices"
	"testing"
)

type forRuntimePage struct {
	ApplicationsForRuntime struct {
		Data []struct {
			ID                    string `json:"id"`
			Name                  string `json:"name"`
			EventingConfiguration struct {
				DefaultURL string `json:"defaultURL"`
			} `json:"eventingConfiguration"`
		} `json:"data"`
		TotalCount int `json:"totalCount"`
	} `json:"applicationsForRuntime"`
}

const appsForRuntime = `query($id: ID!) { applicationsForRuntime(runtimeID: $id, first: 10) {
  data { id name eventingConfiguration { defaultURL } } totalCount } }`

// Issue 9, missing behaviours 2 to 5, as a Compass client sees them through the gateway: free-form
// application names, unique once normalized; runtimes labelled isNormalized "true" unless they say
// otherwise, and given normalized names by applicationsForRuntime, without the applications that carry
// the hide selector; an application's events go to the oldest runtime sharing a scenario until it has a
// default, under the name that runtime sees.
func TestDirectorNamesNormalizationHidingAndEventing(t *testing.T) {
	const tenant = "tenant-normalize"
	register := func(in map[string]any) appData {
		t.Helper()
		var out struct{ RegisterApplication appData }
		ok(t, gql(t, tenant, registerApp, map[string]any{"in": in}), &out)
		return out.RegisterApplication
	}
	shop := register(map[string]any{"name": "App@Shop"})
	register(map[string]any{"name": "plain-app"})
	// The selector Compass's chart shipped, which the Director has by default (APPLICATION_HIDE_SELECTORS).
	register(map[string]any{"name": "Hidden One", "labels": map[string]any{"applicationHideSelectorKey": "applicationHideSelectorValue"}})

	r := gql(t, tenant, registerApp, map[string]any{"in": map[string]any{"name": "app shop"}})
	if len(r.Errors) != 1 || r.Errors[0].Code() != "ALREADY_EXISTS" || r.Errors[0].Extensions["error_code"] != float64(31) {
		t.Fatalf(`"app shop" normalizes as "App@Shop" does: want ALREADY_EXISTS (31), got %s`, r.Raw)
	}

	type runtimeData struct {
		ID     string         `json:"id"`
		Labels map[string]any `json:"labels"`
	}
	registerRuntime := func(name string, labels map[string]any) runtimeData {
		t.Helper()
		var out struct{ RegisterRuntime runtimeData }
		ok(t, gql(t, tenant, `mutation($in: RuntimeInput!) { registerRuntime(in: $in) { id labels } }`,
			map[string]any{"in": map[string]any{"name": name, "labels": labels}}), &out)
		return out.RegisterRuntime
	}
	norm := registerRuntime("rt-normalized", map[string]any{"runtime_eventServiceUrl": "https://norm.example.com"})
	raw := registerRuntime("rt-raw", map[string]any{"isNormalized": "false", "runtime_eventServiceUrl": "https://raw.example.com/"})
	if norm.Labels["isNormalized"] != "true" || raw.Labels["isNormalized"] != "false" {
		t.Fatalf("isNormalized labels: %v and %v", norm.Labels, raw.Labels)
	}

	listFor := func(rt string) (names []string, urls map[string]string) {
		t.Helper()
		var page forRuntimePage
		ok(t, gql(t, tenant, appsForRuntime, map[string]any{"id": rt}), &page)
		urls = map[string]string{}
		for _, a := range page.ApplicationsForRuntime.Data {
			names = append(names, a.Name)
			urls[a.ID] = a.EventingConfiguration.DefaultURL
		}
		if page.ApplicationsForRuntime.TotalCount != len(names) {
			t.Fatalf("totalCount %d for %d applications", page.ApplicationsForRuntime.TotalCount, len(names))
		}
		return names, urls
	}
	names, urls := listFor(norm.ID)
	if !slices.Equal(names, []string{"mp-app-shop", "mp-plain-app"}) {
		t.Fatalf("normalized runtime sees %q", names)
	}
	// No default yet: the oldest runtime in DEFAULT, rt-normalized, with the name it sees.
	if urls[shop.ID] != "https://norm.example.com/mp-app-shop/v1/events" {
		t.Fatalf("fallback eventing URL %q", urls[shop.ID])
	}
	names, _ = listFor(raw.ID)
	if !slices.Equal(names, []string{"App@Shop", "plain-app"}) {
		t.Fatalf("runtime with isNormalized false sees %q", names)
	}

	var set struct {
		SetDefaultEventingForApplication struct{ DefaultURL string }
	}
	ok(t, gql(t, tenant, `mutation($app: String!, $rt: String!) { setDefaultEventingForApplication(appID: $app, runtimeID: $rt) { defaultURL } }`,
		map[string]any{"app": shop.ID, "rt": raw.ID}), &set)
	if set.SetDefaultEventingForApplication.DefaultURL != "https://raw.example.com/App@Shop/v1/events" {
		t.Fatalf("default eventing on rt-raw: %q", set.SetDefaultEventingForApplication.DefaultURL)
	}
	// Listed for the normalized runtime the name is normalized, yet the URL is rt-raw's, with its name.
	if _, urls = listFor(norm.ID); urls[shop.ID] != "https://raw.example.com/App@Shop/v1/events" {
		t.Fatalf("eventing URL after setting the default: %q", urls[shop.ID])
	}
	// `applications` and `application` show the name as registered.
	var got struct{ Application appData }
	ok(t, gql(t, tenant, getApp, map[string]any{"id": shop.ID}), &got)
	if got.Application.Name != "App@Shop" {
		t.Fatalf("application name %q", got.Application.Name)
	}
}
