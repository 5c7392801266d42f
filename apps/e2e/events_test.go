package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// streamHas reports whether the redis stream of topic holds an entry mentioning want. Dapr's redis pub/sub
// keeps each topic in a stream of that name, so this reads what the broker really received.
func streamHas(t *testing.T, topic, want string) bool {
	t.Helper()
	host, port, _ := strings.Cut(stack.RedisAddr, ":")
	out, err := exec.Command("redis-cli", "-h", host, "-p", port, "XRANGE", topic, "-", "+").CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli: %v %s", err, out)
	}
	return strings.Contains(string(out), want)
}

func TestChangesArePublished(t *testing.T) {
	var reg struct{ RegisterApplication appData }
	ok(t, gql(t, "tenant-events", registerApp, map[string]any{"in": map[string]any{"name": "evented"}}), &reg)
	id := reg.RegisterApplication.ID
	ok(t, gql(t, "tenant-events", `mutation($id: ID!) { setApplicationLabel(applicationID: $id, key: "team", value: "blue") { key } }`,
		map[string]any{"id": id}), nil)

	for _, topic := range []string{"application.created", "label.set"} {
		deadline := time.Now().Add(10 * time.Second)
		for !streamHas(t, topic, id) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s event for %s on the broker", topic, id)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
