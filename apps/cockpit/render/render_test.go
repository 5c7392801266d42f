package render

import (
	"strings"
	"testing"
)

func TestMarkdownDropsScript(t *testing.T) {
	html, err := Markdown("# Orders\n\nSee [the guide](https://example.com/guide).\n\n<script>alert(1)</script>\n\n" +
		"[click](javascript:alert(2)) <img src=x onerror=alert(3)>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
	if err != nil {
		t.Fatal(err)
	}
	s := string(html)
	for _, want := range []string{"<h1>Orders</h1>", `<a href="https://example.com/guide">the guide</a>`, "<table>"} {
		if !strings.Contains(s, want) {
			t.Errorf("rendered document lacks %q:\n%s", want, s)
		}
	}
	for _, bad := range []string{"<script", "javascript:", "onerror"} {
		if strings.Contains(s, bad) {
			t.Errorf("rendered document contains %q:\n%s", bad, s)
		}
	}
}

func TestMarkdownRefusesHugeDocuments(t *testing.T) {
	if _, err := Markdown(strings.Repeat("x", maxSource+1)); err == nil {
		t.Fatal("a document over the limit was rendered")
	}
}

func TestOutlineOpenAPI3YAML(t *testing.T) {
	o, err := Outlines("OPEN_API", "YAML", `openapi: 3.0.3
info: {title: Orders, version: "1.2"}
servers: [{url: "https://orders.example.com/v1"}]
paths:
  /orders:
    get: {summary: List orders, operationId: listOrders}
    post:
      description: |
        Places an order.
        More text.
  /orders/{id}:
    parameters: []
    delete: {operationId: cancel, deprecated: true}
`)
	if err != nil {
		t.Fatal(err)
	}
	if o.Title != "Orders" || o.Version != "1.2" || o.Spec != "OpenAPI 3.0.3" {
		t.Errorf("title/version/spec = %q %q %q", o.Title, o.Version, o.Spec)
	}
	if len(o.Servers) != 1 || o.Servers[0] != "https://orders.example.com/v1" {
		t.Errorf("servers = %q", o.Servers)
	}
	want := []Operation{
		{Method: "GET", Path: "/orders", Summary: "List orders", ID: "listOrders"},
		{Method: "POST", Path: "/orders", Summary: "Places an order."},
		{Method: "DELETE", Path: "/orders/{id}", ID: "cancel", Deprecated: true},
	}
	if len(o.Operations) != len(want) {
		t.Fatalf("operations = %+v", o.Operations)
	}
	for i := range want {
		if o.Operations[i] != want[i] {
			t.Errorf("operation %d = %+v, want %+v", i, o.Operations[i], want[i])
		}
	}
}

func TestOutlineSwagger2JSON(t *testing.T) {
	o, err := Outlines("OPEN_API", "JSON", `{"swagger":"2.0","info":{"title":"Pets","version":"1"},"host":"pets.example.com","basePath":"/api",
	"paths":{"/pets":{"get":{"summary":"All pets"}}}}`)
	if err != nil {
		t.Fatal(err)
	}
	if o.Spec != "Swagger 2.0" || len(o.Servers) != 1 || o.Servers[0] != "pets.example.com/api" {
		t.Errorf("spec %q servers %q", o.Spec, o.Servers)
	}
	if len(o.Operations) != 1 || o.Operations[0].Summary != "All pets" {
		t.Errorf("operations = %+v", o.Operations)
	}
}

func TestOutlineAsyncAPI2And3(t *testing.T) {
	v2, err := Outlines("ASYNC_API", "YAML", `asyncapi: 2.6.0
info: {title: Order events, version: "1"}
servers: {prod: {url: "broker.example.com:9092", protocol: kafka}}
channels:
  order.created:
    description: An order was placed.
    subscribe:
      message:
        oneOf: [{name: OrderCreated}, {$ref: "#/components/messages/OrderCreatedV2"}]
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(v2.Channels) != 1 || v2.Channels[0].Name != "order.created" || len(v2.Channels[0].Actions) != 1 ||
		v2.Channels[0].Actions[0] != "subscribe OrderCreated, OrderCreatedV2" {
		t.Errorf("AsyncAPI 2 channels = %+v", v2.Channels)
	}
	if len(v2.Servers) != 1 || v2.Servers[0] != "prod: broker.example.com:9092 (kafka)" {
		t.Errorf("servers = %q", v2.Servers)
	}

	v3, err := Outlines("ASYNC_API", "JSON", `{"asyncapi":"3.0.0","info":{"title":"Events","version":"1"},
	"channels":{"created":{"address":"order/created"}},
	"operations":{"onCreated":{"action":"receive","channel":{"$ref":"#/channels/created"}},
	              "sendCreated":{"action":"send","summary":"Announce an order","channel":{"$ref":"#/channels/created"}}}}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(v3.Channels) != 1 || v3.Channels[0].Name != "order/created" ||
		strings.Join(v3.Channels[0].Actions, "|") != "receive (onCreated)|send: Announce an order" {
		t.Errorf("AsyncAPI 3 channels = %+v", v3.Channels)
	}
}

func TestOutlineLeavesODataAndBadTextAlone(t *testing.T) {
	if o, err := Outlines("ODATA", "XML", "<edmx/>"); o != nil || err != nil {
		t.Errorf("OData outlined: %+v, %v", o, err)
	}
	if _, err := Outlines("OPEN_API", "YAML", "paths: [unclosed"); err == nil {
		t.Error("broken YAML outlined without an error")
	}
	if _, err := Outlines("OPEN_API", "JSON", `"just a string"`); err == nil {
		t.Error("a specification that is not an object outlined without an error")
	}
}

func TestPretty(t *testing.T) {
	if got := Pretty("JSON", `{"a":[1,2]}`); got != "{\n  \"a\": [\n    1,\n    2\n  ]\n}" {
		t.Errorf("Pretty = %q", got)
	}
	if got := Pretty("YAML", "a: 1"); got != "a: 1" {
		t.Errorf("YAML changed: %q", got)
	}
	if got := Pretty("JSON", "{broken"); got != "{broken" {
		t.Errorf("broken JSON changed: %q", got)
	}
}
