package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const driftTenant = "tenant-drift"

// driftRuntime is a local runtime (demo workload, its own daprd, its agent with the default drift
// settings) with a configuration of its own.
type driftRuntime struct {
	rolloutRuntime
	configID string
}

func startDriftRuntime(t testing.TB, name string, bindings []any) *driftRuntime {
	t.Helper()
	var reg struct{ RegisterRuntime struct{ ID string } }
	ok(t, gql(t, driftTenant, `mutation($n: String!) { registerRuntime(in: {name: $n}) { id } }`, map[string]any{"n": name}), &reg)
	r := &driftRuntime{rolloutRuntime: rolloutRuntime{name: name, id: reg.RegisterRuntime.ID}}
	var created struct{ CreateConfiguration struct{ ID string } }
	ok(t, governor(t, driftTenant, createConfiguration, map[string]any{"in": map[string]any{"runtimeID": r.id, "bindings": bindings}}), &created)
	r.configID = created.CreateConfiguration.ID
	r.resources = startRuntimeProcesses(t, driftTenant, name, r.id, "demo-"+name)
	return r
}

// update replaces the runtime's configuration; extra adds fields of ConfigurationInput (driftPolicy,
// autoRollback).
func (r *driftRuntime) update(t testing.TB, bindings []any, extra map[string]any) int {
	t.Helper()
	in := map[string]any{"runtimeID": r.id, "bindings": bindings}
	for k, v := range extra {
		in[k] = v
	}
	var out struct{ UpdateConfiguration struct{ Revision int } }
	ok(t, governor(t, driftTenant, `mutation($id: ID!, $in: ConfigurationInput!) { updateConfiguration(id: $id, in: $in) { revision } }`,
		map[string]any{"id": r.configID, "in": in}), &out)
	return out.UpdateConfiguration.Revision
}

func (r *driftRuntime) file() string {
	return filepath.Join(r.resources, "mgmtplane-agent-binding-archive.yaml")
}

type driftItem struct{ Component, Kind, Resource string }

type runtimeState struct {
	DesiredRevision int
	AppliedRevision *int
	InSync          bool
	LastStatus      *struct {
		Revision       int
		Status         string
		Reason         *string
		Drift          []driftItem
		DriftCorrected bool
	}
	Drift *struct {
		Revision   int
		Items      []driftItem
		DetectedAt time.Time
		ResolvedAt *time.Time
		Corrected  bool
	}
	LastAutoRollback *struct {
		ConfigurationID                               string
		FailedRevision, RestoredRevision, NewRevision int
		Reason                                        string
	}
}

const runtimeStateQuery = `query($id: ID!) { runtimeConfigurationState(runtimeID: $id) {
  desiredRevision appliedRevision inSync
  lastStatus { revision status reason drift { component kind resource } driftCorrected }
  drift { revision items { component kind resource } detectedAt resolvedAt corrected }
  lastAutoRollback { configurationID failedRevision restoredRevision newRevision reason } } }`

func stateOf(t testing.TB, tenant, runtimeID string) runtimeState {
	t.Helper()
	var out struct{ RuntimeConfigurationState runtimeState }
	ok(t, governor(t, tenant, runtimeStateQuery, map[string]any{"id": runtimeID}), &out)
	return out.RuntimeConfigurationState
}

// waitState polls the runtime's state at the Governor until cond holds.
func waitState(t testing.TB, tenant, runtimeID string, within time.Duration, what string, cond func(runtimeState) bool) runtimeState {
	t.Helper()
	var st runtimeState
	for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		st = stateOf(t, tenant, runtimeID)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; state %+v, last status %+v, drift %+v", what, within, st, st.LastStatus, st.Drift)
		}
	}
}

func appliedAt(rev int) func(runtimeState) bool {
	return func(st runtimeState) bool {
		return st.InSync && st.AppliedRevision != nil && *st.AppliedRevision >= rev
	}
}

// TestDriftIsDetectedAndCorrected deletes a component file by hand on a real runtime: its agent reports
// the drift, restores the file, the sidecar loads it again, and the Governor shows it all; a report-only
// configuration is reported and left alone; a single-runtime configuration with autoRollback returns on
// its own to the last revision its runtime applied when a change fails there.
func TestDriftIsDetectedAndCorrected(t *testing.T) {
	good := t.TempDir()
	rt := startDriftRuntime(t, "drift", []any{archiveBinding(good)})
	first := waitState(t, driftTenant, rt.id, 90*time.Second, "first revision applied", appliedAt(1))
	if first.Drift != nil {
		t.Fatalf("drift before anything happened: %+v", first.Drift)
	}

	t.Run("a deleted component file is restored and the drift is visible", func(t *testing.T) {
		want, err := os.ReadFile(rt.file())
		if err != nil {
			t.Fatal(err)
		}
		deleted := time.Now()
		if err := os.Remove(rt.file()); err != nil {
			t.Fatal(err)
		}
		st := waitState(t, driftTenant, rt.id, 30*time.Second, "drift corrected", func(st runtimeState) bool {
			return st.Drift != nil && st.Drift.Corrected && st.Drift.ResolvedAt != nil && st.InSync
		})
		got, err := os.ReadFile(rt.file())
		if err != nil || string(got) != string(want) {
			t.Fatalf("file after the correction: %v\n%s", err, got)
		}
		items := st.Drift.Items
		if len(items) != 1 || items[0] != (driftItem{"archive", "MISSING", "COMPONENT"}) || st.Drift.Revision != first.DesiredRevision {
			t.Fatalf("drift %+v", st.Drift)
		}
		if !st.LastStatus.DriftCorrected || st.LastStatus.Status != "APPLIED" {
			t.Fatalf("last status %+v", st.LastStatus)
		}
		t.Logf("deleted to restored and reported: %s (detected %s after the deletion)",
			time.Since(deleted).Round(time.Millisecond), st.Drift.DetectedAt.Sub(deleted).Round(time.Millisecond))
		if !streamGets(t, "configuration.drift", rt.id, 15*time.Second) {
			t.Fatal("no configuration.drift event on the broker")
		}
		// The agent's report is a mutation: it is in the audit trail like any.
		if !streamGets(t, "audit", "reportConfigurationStatus", 15*time.Second) {
			t.Fatal("no audit record of the agent's report")
		}
	})

	t.Run("a report-only configuration reports the drift and leaves it", func(t *testing.T) {
		rev := rt.update(t, []any{archiveBinding(good)}, map[string]any{"driftPolicy": "REPORT"})
		before := waitState(t, driftTenant, rt.id, 30*time.Second, "report-only revision applied", func(st runtimeState) bool {
			return st.InSync && st.DesiredRevision > first.DesiredRevision && *st.AppliedRevision == st.DesiredRevision
		})
		var c struct{ Configuration struct{ DriftPolicy string } }
		ok(t, governor(t, driftTenant, `query($id: ID!) { configuration(id: $id) { driftPolicy } }`, map[string]any{"id": rt.configID}), &c)
		if c.Configuration.DriftPolicy != "REPORT" {
			t.Fatalf("configuration revision %d: driftPolicy %q", rev, c.Configuration.DriftPolicy)
		}
		if err := os.Remove(rt.file()); err != nil {
			t.Fatal(err)
		}
		st := waitState(t, driftTenant, rt.id, 30*time.Second, "drift reported", func(st runtimeState) bool {
			return st.LastStatus != nil && st.LastStatus.Status == "DRIFTED"
		})
		if st.InSync || st.Drift == nil || st.Drift.ResolvedAt != nil || st.Drift.Revision != before.DesiredRevision ||
			len(st.Drift.Items) != 1 || st.Drift.Items[0].Kind != "MISSING" {
			t.Fatalf("report-only drift: %+v %+v", st, st.Drift)
		}
		time.Sleep(3 * time.Second) // several settle times: a correction would have happened
		if _, err := os.Stat(rt.file()); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a report-only configuration's drift was corrected: %v", err)
		}
		if st := stateOf(t, driftTenant, rt.id); st.LastStatus.Status != "DRIFTED" {
			t.Fatalf("state after waiting: %+v", st.LastStatus)
		}
	})

	t.Run("a single-runtime configuration with autoRollback returns to the last revision applied", func(t *testing.T) {
		// Back to correcting: the missing file comes back with the new revision.
		applied := rt.update(t, []any{archiveBinding(good)}, map[string]any{"autoRollback": true})
		waitState(t, driftTenant, rt.id, 30*time.Second, "autoRollback revision applied", func(st runtimeState) bool {
			return st.InSync && st.LastStatus.Revision == st.DesiredRevision
		})
		waitArchives(t, []*rolloutRuntime{&rt.rolloutRuntime}, good, 10*time.Second)

		// Valid for the Governor, not for Dapr: the folder cannot be created, the agent reports FAILED.
		const broken = "/proc/mgmtplane/archive"
		bad := rt.update(t, []any{archiveBinding(broken)}, map[string]any{"autoRollback": true})
		st := waitState(t, driftTenant, rt.id, 60*time.Second, "automatic rollback", func(st runtimeState) bool {
			return st.LastAutoRollback != nil && st.LastAutoRollback.FailedRevision == bad
		})
		ar := st.LastAutoRollback
		if ar.ConfigurationID != rt.configID || ar.RestoredRevision != applied || ar.NewRevision != bad+1 || !strings.Contains(ar.Reason, "FAILED") {
			t.Fatalf("automatic rollback %+v", ar)
		}
		var c struct {
			Configuration struct {
				Revision       int
				RolledBackFrom *int
				RollbackReason *string
				RevisedBy      *string
				AutoRollback   bool
			}
		}
		ok(t, governor(t, driftTenant, `query($id: ID!) { configuration(id: $id) { revision rolledBackFrom rollbackReason revisedBy autoRollback } }`,
			map[string]any{"id": rt.configID}), &c)
		cfg := c.Configuration
		if cfg.Revision != bad+1 || cfg.RolledBackFrom == nil || *cfg.RolledBackFrom != applied || cfg.RollbackReason == nil || !cfg.AutoRollback {
			t.Fatalf("configuration after the automatic rollback: %+v", cfg)
		}
		t.Logf("rolled back: %s", *cfg.RollbackReason)
		// The runtime runs the good binding again and says so.
		waitArchives(t, []*rolloutRuntime{&rt.rolloutRuntime}, good, 30*time.Second)
		waitState(t, driftTenant, rt.id, 30*time.Second, "rollback revision applied", func(st runtimeState) bool {
			return st.InSync && st.LastStatus.Status == "APPLIED"
		})
		if !streamGets(t, "configuration.autorollback", rt.configID, 15*time.Second) {
			t.Fatal("no configuration.autorollback event on the broker")
		}
		if !streamGets(t, "audit", fmt.Sprintf("configuration:%s", rt.configID), 15*time.Second) {
			t.Fatal("no audit record of the automatic rollback")
		}
	})
}
