package registry

import (
	"strconv"
	"time"
)

// ttlMetadata returns the per-item state metadata that asks the store to expire an item after d, or nil
// for no expiry. Dapr takes whole seconds; rounding up keeps an item at least as long as asked.
func ttlMetadata(d time.Duration) map[string]string {
	if d <= 0 {
		return nil
	}
	secs := int64((d + time.Second - 1) / time.Second)
	return map[string]string{"ttlInSeconds": strconv.FormatInt(secs, 10)}
}
