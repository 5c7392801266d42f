// Package audit records every change request an app serves: in the log, and on the "audit" topic.
//
// The record of a change is written to the Registry in the same transaction as the change (it rides on
// the first write the request makes, see registry.WithFirstWrite) and the outbox relay publishes it, so a
// change without its record cannot happen, however busy the pub/sub broker is. A request that wrote
// nothing — refused, invalid, or acting outside the app's Registry — is published directly once its
// outcome is known, falling back to the outbox when the broker refuses (events.Fallback).
//
// GraphQL apps record each mutation (package gqlserver); the System Broker each OSB request that changes
// something.
package audit

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Topic is where audit records are published.
const Topic = "audit"

// Publisher sends an audit record to pub/sub.
type Publisher interface {
	Publish(ctx context.Context, topic, id string, data []byte) error
}

// Record is what is recorded of a change request. ID identifies the request: one that changed something
// and then failed has two records with the same ID, the second with outcome "error".
type Record struct {
	ID           string    `json:"id"`
	Time         time.Time `json:"time"`
	App          string    `json:"app"`
	Tenant       string    `json:"tenant"`
	Subject      string    `json:"subject"`
	ConsumerType string    `json:"consumerType"`
	Operation    string    `json:"operation"`
	Fields       []string  `json:"fields"`
	// OnBehalfOf is the platform user a broker request was made for (X-Broker-API-Originating-Identity).
	OnBehalfOf string   `json:"onBehalfOf,omitempty"`
	Outcome    string   `json:"outcome"` // success or error
	Errors     []string `json:"errors,omitempty"`
}

// Entry is a record being made: Begin starts it, Finish completes it once the outcome is known.
type Entry struct {
	Record
	written *registry.FirstWrite
}

// Begin starts the record of a request by the caller in ctx and returns the context the request must
// run with, so that its first Registry write carries the record. pub may be nil: the log still gets it.
func Begin(ctx context.Context, app, operation string, fields []string, pub Publisher) (context.Context, *Entry) {
	id, _ := identity.FromContext(ctx)
	e := &Entry{Record: Record{
		ID: uuid.NewString(), Time: time.Now().UTC(), App: app, Tenant: id.Tenant, Subject: id.Subject,
		ConsumerType: id.ConsumerType, Operation: operation, Fields: fields, Outcome: "success",
	}}
	if pub != nil {
		ctx, e.written = registry.WithFirstWrite(ctx, registry.Event{Topic: Topic, Data: &e.Record})
	}
	return ctx, e
}

// Finish logs the record with its outcome (errors empty means success) and publishes it unless it
// already went out with a successful change.
func (e *Entry) Finish(ctx context.Context, log *slog.Logger, pub Publisher, errs []string) {
	rec := e.Record
	if len(errs) > 0 {
		rec.Outcome, rec.Errors = "error", errs
	}
	logRecord(ctx, log, slog.LevelInfo, rec)
	if pub == nil || (e.written.Written() && rec.Outcome == "success") {
		return
	}
	data, _ := json.Marshal(rec)
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := pub.Publish(pctx, Topic, rec.ID+"-outcome", data); err != nil {
		log.ErrorContext(ctx, "audit record not published; it is in this log", "id", rec.ID, "err", err)
	}
}

// Written reports whether the record went out with a successful write of the Registry, that is, whether
// the request changed something.
func (e *Entry) Written() bool { return e.written != nil && e.written.Written() }

// Skip completes a successful record that is not kept: it is logged at debug level and published
// nowhere (a liveness mutation that changed nothing; see gqlserver.Audit).
func (e *Entry) Skip(ctx context.Context, log *slog.Logger) {
	logRecord(ctx, log, slog.LevelDebug, e.Record)
}

// FinishLiveness completes the record of a liveness operation (a runtime's heartbeat, which arrives every
// few seconds from every member of a fleet): kept as Finish keeps it when the operation failed or changed
// something through the Registry, and otherwise skipped (Skip), so that a fleet saying "still here" does
// not fill the audit stream.
func (e *Entry) FinishLiveness(ctx context.Context, log *slog.Logger, pub Publisher, errs []string) {
	if len(errs) == 0 && !e.Written() {
		e.Skip(ctx, log)
		return
	}
	e.Finish(ctx, log, pub, errs)
}

func logRecord(ctx context.Context, log *slog.Logger, level slog.Level, rec Record) {
	log.Log(ctx, level, "audit", "id", rec.ID, "tenant", rec.Tenant, "subject", rec.Subject, "consumer", rec.ConsumerType,
		"operation", rec.Operation, "fields", rec.Fields, "outcome", rec.Outcome, "errors", rec.Errors)
}
