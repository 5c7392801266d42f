package graph

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/provisioning"
)

// The domain keeps a runtime's cluster configuration as the JSON of the clusterConfig input, with the
// GraphQL field names (the models' JSON tags are those names), and hands it back in runtimeStatus: so the
// inputs are marshalled as they are, and the answer is decoded from the same JSON.

func fromProvisionInput(in model.ProvisionRuntimeInput) (provisioning.ProvisionInput, error) {
	cc := in.ClusterConfig
	var backend string
	switch {
	case cc.GardenerConfig != nil && cc.LocalConfig != nil:
		return provisioning.ProvisionInput{}, invalid("clusterConfig: give either gardenerConfig or localConfig, not both")
	case cc.GardenerConfig != nil:
		backend = provisioning.BackendGardener
	case cc.LocalConfig != nil:
		backend = provisioning.BackendLocal
	default:
		return provisioning.ProvisionInput{}, invalid("clusterConfig: give gardenerConfig or localConfig")
	}
	raw, err := json.Marshal(cc)
	if err != nil {
		return provisioning.ProvisionInput{}, fmt.Errorf("encoding clusterConfig: %w", err)
	}
	return provisioning.ProvisionInput{
		Name: in.RuntimeInput.Name, Description: deref(in.RuntimeInput.Description), Labels: in.RuntimeInput.Labels,
		Backend: backend, ClusterConfig: raw,
	}, nil
}

func fromUpgradeShootInput(in model.UpgradeShootInput) (provisioning.UpgradeShootInput, error) {
	raw, err := json.Marshal(in)
	if err != nil {
		return provisioning.UpgradeShootInput{}, fmt.Errorf("encoding upgradeShoot config: %w", err)
	}
	return provisioning.UpgradeShootInput{ClusterConfig: raw}, nil
}

func invalid(format string, args ...any) error {
	return provisioning.Fail(apperr.CodeInvalidInput, provisioning.ReasonInvalidInput, provisioning.ComponentProvisioner, format, args...)
}

func toOperationStatus(op provisioning.Operation) *model.OperationStatus {
	out := &model.OperationStatus{
		ID: optional(op.ID), Operation: model.OperationType(op.Type), State: model.OperationState(op.State),
		Message: optional(op.Message), RuntimeID: optional(op.RuntimeID), Stage: optional(op.Stage),
		StartedAt: optionalTime(op.StartedAt), UpdatedAt: optionalTime(op.UpdatedAt),
	}
	if e := op.LastError; e != nil {
		out.LastError = &model.LastError{ErrMessage: e.Message, Reason: e.Reason, Component: e.Component}
	}
	return out
}

func toOperationStatuses(ops []provisioning.Operation) []*model.OperationStatus {
	out := make([]*model.OperationStatus, 0, len(ops))
	for _, op := range ops {
		out = append(out, toOperationStatus(op))
	}
	return out
}

func toRuntimeStatus(s provisioning.RuntimeStatus) (*model.RuntimeStatus, error) {
	cfg, err := toRuntimeConfig(s.Backend, s.ClusterConfig)
	if err != nil {
		return nil, fmt.Errorf("runtime %s: %w", s.RuntimeID, err)
	}
	connection := model.RuntimeAgentConnectionStatus(s.Connection)
	if connection == "" {
		connection = model.RuntimeAgentConnectionStatusPending
	}
	out := &model.RuntimeStatus{
		RuntimeConnectionStatus: &model.RuntimeConnectionStatus{Status: connection},
		RuntimeConfiguration:    cfg,
		HibernationStatus:       &model.HibernationStatus{Hibernated: &s.Hibernated, HibernationPossible: &s.HibernationPossible},
	}
	if s.LastOperation != nil {
		out.LastOperationStatus = toOperationStatus(*s.LastOperation)
	}
	return out, nil
}

// storedClusterConfig decodes what fromProvisionInput encoded (and upgrades changed) into the output types.
type storedClusterConfig struct {
	GardenerConfig *storedGardenerConfig `json:"gardenerConfig"`
	LocalConfig    *model.LocalConfig    `json:"localConfig"`
}

// storedGardenerConfig is the output type but for the provider's settings, which are stored as the input
// gave them (one field per provider) and answered as the union's one member.
type storedGardenerConfig struct {
	model.GardenerConfig
	ProviderSpecificConfig *model.ProviderSpecificInput `json:"providerSpecificConfig"`
}

func toRuntimeConfig(backend string, raw json.RawMessage) (*model.RuntimeConfig, error) {
	out := &model.RuntimeConfig{Backend: optional(backend)}
	if len(raw) == 0 {
		return out, nil
	}
	var stored storedClusterConfig
	if err := json.Unmarshal(raw, &stored); err != nil {
		return nil, fmt.Errorf("decoding the stored cluster configuration: %w", err)
	}
	out.LocalConfig = stored.LocalConfig
	if g := stored.GardenerConfig; g != nil {
		gc := g.GardenerConfig
		gc.ProviderSpecificConfig = toProviderConfig(g.ProviderSpecificConfig, deref(gc.Provider))
		out.ClusterConfig = &gc
	}
	return out, nil
}

// toProviderConfig answers the settings of provider; when the input has none for it (or names the
// provider differently), the first given in the order gcp, azure, aws, openstack.
func toProviderConfig(in *model.ProviderSpecificInput, provider string) model.ProviderSpecificConfig {
	if in == nil {
		return nil
	}
	gcp := func() model.ProviderSpecificConfig {
		return &model.GCPProviderConfig{Zones: nonNil(in.GCPConfig.Zones)}
	}
	azure := func() model.ProviderSpecificConfig {
		a := in.AzureConfig
		out := &model.AzureProviderConfig{VnetCidr: optional(a.VnetCidr), Zones: a.Zones, EnableNatGateway: a.EnableNatGateway,
			IdleConnectionTimeoutMinutes: a.IdleConnectionTimeoutMinutes}
		for _, z := range a.AzureZones {
			if z != nil {
				out.AzureZones = append(out.AzureZones, &model.AzureZone{Name: z.Name, Cidr: z.Cidr})
			}
		}
		return out
	}
	aws := func() model.ProviderSpecificConfig {
		a := in.AWSConfig
		out := &model.AWSProviderConfig{VpcCidr: optional(a.VpcCidr), AWSZones: []*model.AWSZone{}}
		for _, z := range a.AWSZones {
			if z != nil {
				out.AWSZones = append(out.AWSZones, &model.AWSZone{Name: optional(z.Name), PublicCidr: optional(z.PublicCidr),
					InternalCidr: optional(z.InternalCidr), WorkerCidr: optional(z.WorkerCidr)})
			}
		}
		return out
	}
	openStack := func() model.ProviderSpecificConfig {
		o := in.OpenStackConfig
		return &model.OpenStackProviderConfig{Zones: nonNil(o.Zones), FloatingPoolName: deref(o.FloatingPoolName),
			CloudProfileName: deref(o.CloudProfileName), LoadBalancerProvider: o.LoadBalancerProvider}
	}
	given := []struct {
		name   string
		set    bool
		answer func() model.ProviderSpecificConfig
	}{
		{"gcp", in.GCPConfig != nil, gcp},
		{"azure", in.AzureConfig != nil, azure},
		{"aws", in.AWSConfig != nil, aws},
		{"openstack", in.OpenStackConfig != nil, openStack},
	}
	for _, g := range given {
		if g.set && strings.EqualFold(g.name, provider) {
			return g.answer()
		}
	}
	for _, g := range given {
		if g.set {
			return g.answer()
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
