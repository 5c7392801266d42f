package application

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mgmtplane/mgmtplane/apps/director/integrationsystem"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// checkIntegrationSystem refuses, as Compass does, an integration system that does not exist.
func (s *Service) checkIntegrationSystem(ctx context.Context, id *string) error {
	if id == nil {
		return nil
	}
	var is json.RawMessage
	err := s.store.Get(ctx, registry.GlobalScope(integrationsystem.Kind), *id, &is)
	if errors.Is(err, registry.ErrNotFound) {
		return apperr.NotFound("integration system", *id)
	}
	if err != nil {
		return fmt.Errorf("integration system %s: %w", *id, err)
	}
	return nil
}
