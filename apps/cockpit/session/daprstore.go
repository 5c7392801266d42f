package session

import (
	"context"
	"fmt"
	"strconv"
	"time"

	dapr "github.com/dapr/go-sdk/client"
)

// StateAPI is the part of the Dapr client DaprStore needs.
type StateAPI interface {
	GetState(ctx context.Context, storeName, key string, meta map[string]string) (*dapr.StateItem, error)
	SaveState(ctx context.Context, storeName, key string, data []byte, meta map[string]string, so ...dapr.StateOption) error
	DeleteState(ctx context.Context, storeName, key string, meta map[string]string) error
}

// DaprStore keeps sessions in a Dapr state store; each expires with its token through the store's TTL
// (ttlInSeconds), so no sweeper is needed.
type DaprStore struct {
	API  StateAPI
	Name string
}

func (d DaprStore) Get(ctx context.Context, key string) ([]byte, error) {
	item, err := d.API.GetState(ctx, d.Name, key, nil)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", d.Name, err)
	}
	return item.Value, nil
}

func (d DaprStore) Save(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	secs := max(int(ttl.Seconds()), 1)
	if err := d.API.SaveState(ctx, d.Name, key, value, map[string]string{"ttlInSeconds": strconv.Itoa(secs)}); err != nil {
		return fmt.Errorf("state %s: %w", d.Name, err)
	}
	return nil
}

func (d DaprStore) Delete(ctx context.Context, key string) error {
	if err := d.API.DeleteState(ctx, d.Name, key, nil); err != nil {
		return fmt.Errorf("state %s: %w", d.Name, err)
	}
	return nil
}
