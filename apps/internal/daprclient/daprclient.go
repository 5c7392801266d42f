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
	client, err := dapr.NewClientWithAddressContext(ctx, fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("dapr client: %w", err)
	}
	if err := client.Wait(ctx, wait); err != nil {
		client.Close()
		return nil, fmt.Errorf("wait for sidecar: %w", err)
	}
	return client, nil
}
