package configuration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// kindRuntimeHealth keeps the last condition the Director announced for each runtime (runtime.updated),
// so that a rollout can tell a runtime that stopped heartbeating (the Director's health rounds turn it
// FAILED) without a caller to ask the Director as. The events carry no tenant; runtime ids are unique
// across tenants, so the records are global, keyed by runtime id, and hold nothing but the condition.
const kindRuntimeHealth = "runtimehealth"

// ConditionFailed is the Director's condition of a runtime that stopped heartbeating or failed otherwise.
const ConditionFailed = "FAILED"

// RuntimeHealth is a runtime's condition in the Director.
type RuntimeHealth struct {
	RuntimeID string    `json:"runtimeID"`
	Condition string    `json:"condition"`
	Reason    string    `json:"reason,omitempty"`
	Since     time.Time `json:"since"`
}

var errOlder = errors.New("health already recorded or newer")

// RecordRuntimeHealth keeps h unless what is kept is the same or newer (events may come twice or out of
// order).
func (s *Service) RecordRuntimeHealth(ctx context.Context, h RuntimeHealth) error {
	if !validID(h.RuntimeID) {
		return nil
	}
	err := s.store.Mutate(ctx, registry.GlobalScope(kindRuntimeHealth), h.RuntimeID, "", func(raw []byte) (registry.Change, error) {
		if raw != nil {
			var cur RuntimeHealth
			if err := json.Unmarshal(raw, &cur); err == nil && (cur.Since.After(h.Since) || cur == h) {
				return registry.Change{}, errOlder
			}
		}
		return registry.Change{Data: h}, nil
	})
	if err != nil && !errors.Is(err, errOlder) {
		return fmt.Errorf("record health of runtime %s: %w", h.RuntimeID, err)
	}
	if err == nil && h.Condition == ConditionFailed && s.reported != nil {
		s.reported() // a rollout may have to roll back now
	}
	return nil
}

// failedHealth returns, of runtimeIDs, those the Director last announced FAILED, with why.
func (s *Service) failedHealth(ctx context.Context, runtimeIDs []string) (map[string]string, error) {
	out := map[string]string{}
	err := s.store.GetMany(ctx, registry.GlobalScope(kindRuntimeHealth), runtimeIDs, func(id string, data []byte) error {
		var h RuntimeHealth
		if err := json.Unmarshal(data, &h); err != nil {
			return fmt.Errorf("decode health of runtime %s: %w", id, err)
		}
		if h.Condition == ConditionFailed {
			why := h.Reason
			if why == "" {
				why = "no reason given"
			}
			out[id] = fmt.Sprintf("runtime FAILED in the Director since %s: %s", h.Since.Format(time.RFC3339), why)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read runtime health: %w", err)
	}
	return out, nil
}
