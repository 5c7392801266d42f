package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Event is a change notification. Events given with a Change are written in the same state transaction as
// the change (an outbox record) and published afterwards by the relay, so that no acknowledged change goes
// unannounced, even if the process dies right after the write.
type Event struct {
	Topic string `json:"topic"`
	Data  any    `json:"data"`
}

// Publisher sends one event to the broker; id identifies it for consumers that drop duplicates (delivery is
// at least once).
type Publisher interface {
	Publish(ctx context.Context, topic, id string, data []byte) error
}

const (
	outboxKind        = "outbox"
	outboxIndex       = "pending"
	outboxTenantsKind = "outboxtenant"
)

// outboxRecord holds the events of one change.
type outboxRecord struct {
	ID     string            `json:"id"`
	Tenant string            `json:"tenant"`
	Time   time.Time         `json:"time"`
	Events []json.RawMessage `json:"events"`
}

type storedEvent struct {
	Topic string          `json:"topic"`
	Data  json.RawMessage `json:"data"`
}

// outboxOps returns the writes that put events into the tenant's outbox.
func (r *Registry) outboxOps(ctx context.Context, tenant string, events []Event) ([]operation, error) {
	if len(events) == 0 {
		return nil, nil
	}
	rec := outboxRecord{ID: uuid.NewString(), Tenant: tenant, Time: time.Now().UTC()}
	for _, e := range events {
		data, err := json.Marshal(e.Data)
		if err != nil {
			return nil, fmt.Errorf("encode event %s: %w", e.Topic, err)
		}
		raw, _ := json.Marshal(storedEvent{Topic: e.Topic, Data: data})
		rec.Events = append(rec.Events, raw)
	}
	os := Scope{Tenant: tenant, Kind: outboxKind}
	seq, ops, err := r.addMember(ctx, os, outboxIndex, rec.ID)
	if err != nil {
		return nil, err
	}
	data, _ := json.Marshal(rec)
	env, _ := json.Marshal(envelope{Data: data, Indexes: map[string]int64{outboxIndex: seq}})
	return append(ops, upsert(os.entityKey(rec.ID), env, "")), nil
}

// knowOutboxTenant records, once per process and tenant, that the tenant has data and so may have outbox
// records, so that the relay finds them after a restart.
func (r *Registry) knowOutboxTenant(ctx context.Context, tenant string) error {
	if _, ok := r.outboxTenants.Load(tenant); ok {
		return nil
	}
	err := r.Mutate(ctx, GlobalScope(outboxTenantsKind), tenant, "", func(cur []byte) (Change, error) {
		if cur != nil {
			return Change{}, errKnown
		}
		return Change{Data: tenant}, nil
	})
	if err != nil && err != errKnown {
		return fmt.Errorf("record outbox tenant: %w", err)
	}
	r.outboxTenants.Store(tenant, true)
	return nil
}

var errKnown = fmt.Errorf("known")

// Relay publishes outbox events until ctx ends: right after the writes that produced them, and every
// interval for whatever is left (after a broker outage or a restart). Events of a tenant go out in the
// order they were written; a record is deleted only after all its events were published.
func (r *Registry) Relay(ctx context.Context, log *slog.Logger, pub Publisher, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := r.relayOnce(ctx, pub); err != nil && ctx.Err() == nil {
			log.Warn("outbox relay", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.kick:
		}
	}
}

func (r *Registry) signalRelay() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *Registry) relayOnce(ctx context.Context, pub Publisher) error {
	after := ""
	for {
		tenants, p, err := ListAs[string](ctx, r, GlobalScope(outboxTenantsKind), IndexAll, 200, after)
		if err != nil {
			return err
		}
		for _, t := range tenants {
			if err := r.relayTenant(ctx, pub, *t); err != nil {
				return fmt.Errorf("tenant %s: %w", *t, err)
			}
		}
		if !p.HasNextPage {
			return nil
		}
		after = p.EndCursor
	}
}

func (r *Registry) relayTenant(ctx context.Context, pub Publisher, tenant string) error {
	os := Scope{Tenant: tenant, Kind: outboxKind}
	for {
		recs, p, err := ListAs[outboxRecord](ctx, r, os, outboxIndex, 100, "")
		if err != nil {
			return err
		}
		for _, rec := range recs {
			for i, raw := range rec.Events {
				var e storedEvent
				if err := json.Unmarshal(raw, &e); err != nil {
					return fmt.Errorf("decode outbox record %s: %w", rec.ID, err)
				}
				if err := pub.Publish(ctx, e.Topic, rec.ID+"-"+strconv.Itoa(i), e.Data); err != nil {
					return fmt.Errorf("publish %s: %w", e.Topic, err)
				}
			}
			if err := r.Mutate(ctx, os, rec.ID, "", func([]byte) (Change, error) { return Change{}, nil }); err != nil {
				return fmt.Errorf("clear outbox record %s: %w", rec.ID, err)
			}
		}
		if !p.HasNextPage {
			return nil
		}
	}
}
