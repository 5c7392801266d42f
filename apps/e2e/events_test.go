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

// streamGets reports whether an event containing want reaches topic within the given time: events go
// out from the outbox after the write that made them, not with its answer.
func streamGets(t *testing.T, topic, want string, within time.Duration) bool {
	t.Helper()
	for deadline := time.Now().Add(within); !streamHas(t, topic, want); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

func TestChangesArePublished(t *testing.T) {
	var reg struct{ RegisterApplication appData }
	ok(t, gql(t, "tenant-events", registerApp, map[string]any{"in": map[string]any{"name": "evented"}}), &reg)
	id := reg.RegisterApplication.ID
	ok(t, gql(t, "tenant-events", `mutation($id: ID!) { setApplicationLabel(applicationID: $id, key: "team", value: "blue") { key } }`,
		map[string]any{"id": id}), nil)

	for _, topic := range []string{"application.created", "label.set"} {
		if !streamGets(t, topic, id, 10*time.Second) {
			t.Fatalf("no %s event for %s on the broker", topic, id)
		}
	}
}
