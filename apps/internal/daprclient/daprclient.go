// Package daprclient opens an app's gRPC client to its own Dapr sidecar.
package daprclient

import (
	"context"
	"fmt"
	"time"

	dapr "github.com/dapr/go-sdk/client"
)

// Open connects to the sidecar's gRPC API on 127.0.0.1:port and waits up to wait until it answers. The
// go-sdk sends DAPR_API_TOKEN from the environment with every call. The caller closes the client.
func Open(ctx context.Context, port int, wait time.Duration) (dapr.Client, error) {
	// The go-sdk gives up dialling after DAPR_CLIENT_TIMEOUT_SECONDS (5 s by default); a sidecar that starts
	// slowly (a busy machine, a node under load) has until wait to open its port.
	deadline := time.Now().Add(wait)
	var client dapr.Client
	for {
		var err error
		client, err = dapr.NewClientWithAddressContext(ctx, fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("dapr client: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("dapr client: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	if err := client.Wait(ctx, time.Until(deadline)); err != nil {
		client.Close()
		return nil, fmt.Errorf("wait for sidecar: %w", err)
	}
	return client, nil
}
