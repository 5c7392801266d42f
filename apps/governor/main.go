// Command governor serves the Runtime Governor GraphQL API: configurations of Dapr bindings for runtimes,
// their revisions, and the effective configuration each runtime's agent long-polls for. Configurations
// live in the governor's own state store, which daprd encrypts (they hold credentials). It is reached
// through the gateway by Dapr service invocation, and asks the Director for runtime labels the same way.
package main

//go:generate go tool gqlgen generate --config gqlgen.yml

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/governor/configuration"
	"github.com/mgmtplane/mgmtplane/apps/governor/graph"
	"github.com/mgmtplane/mgmtplane/apps/governor/notify"
	"github.com/mgmtplane/mgmtplane/apps/governor/runtimelabels"
	"github.com/mgmtplane/mgmtplane/apps/internal/appconf"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/daprclient"
	"github.com/mgmtplane/mgmtplane/apps/internal/encstate"
	"github.com/mgmtplane/mgmtplane/apps/internal/events"
	"github.com/mgmtplane/mgmtplane/apps/internal/invoke"
	"github.com/mgmtplane/mgmtplane/apps/internal/logger"
	"github.com/mgmtplane/mgmtplane/apps/internal/profiling"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/web"
)

type config struct {
	Port         int    `conf:"default:3003,env:APP_PORT"`
	DaprGRPCPort int    `conf:"default:50004,env:DAPR_GRPC_PORT"`
	DaprHTTP     string `conf:"env:DAPR_HTTP_ENDPOINT"`
	DaprAPIToken string `conf:"env:DAPR_API_TOKEN,mask"`
	// AppAPIToken is what daprd sends to this app (its APP_API_TOKEN): only the sidecar may call the app.
	AppAPIToken string `conf:"env:APP_API_TOKEN,mask"`
	StateStore  string `conf:"default:governorstore,env:STATESTORE_NAME"`
	PubSub      string `conf:"default:pubsub,env:PUBSUB_NAME"`
	// WakePubSub is where the wake-up subscriptions listen (default PubSub). Every replica must receive
	// every event, so with several replicas it needs a component whose consumerID differs per replica.
	WakePubSub    string `conf:"env:WAKE_PUBSUB_NAME"`
	DirectorAppID string `conf:"default:director,env:DIRECTOR_APP_ID"`
	// AppID is this app's Dapr app id: caller assertions must be addressed to it.
	AppID           string        `conf:"default:governor,env:APP_ID"`
	SecretStore     string        `conf:"default:secretstore,env:SECRETSTORE_NAME"`
	DirectorTimeout time.Duration `conf:"default:10s,env:DIRECTOR_TIMEOUT"`
	RelayInterval   time.Duration `conf:"default:5s,env:OUTBOX_RELAY_INTERVAL"`
	SidecarWait     time.Duration `conf:"default:60s,env:SIDECAR_WAIT"`
	ShutdownTimeout time.Duration `conf:"default:10s,env:SHUTDOWN_TIMEOUT"`
	// PprofAddr, when set (127.0.0.1:0 for a free port), serves Go's profiles there; off by default.
	PprofAddr string `conf:"env:PPROF_ADDR"`
	// RolloutTick is how often rollouts are moved on (soak times and step timeouts are checked); an
	// agent's report moves them on at once as well.
	RolloutTick time.Duration `conf:"default:5s,env:ROLLOUT_TICK"`
	// LabelCacheTTL bounds how long a runtime's labels, read by the runtime itself, answer its later
	// long polls without asking the Director; label and runtime events drop them at once, so the TTL only
	// bounds a lost event (at 60 s, 1,000 agents still cost the Director 17 label reads a second). 0 turns
	// it off.
	LabelCacheTTL time.Duration `conf:"default:5m,env:LABEL_CACHE_TTL"`
	// ConfigCacheTTL bounds how long a tenant's configurations are kept in memory; every change (here or
	// in another replica, through the epoch in the store) drops them at once. 0 turns it off.
	ConfigCacheTTL time.Duration `conf:"default:10s,env:CONFIG_CACHE_TTL"`
}

func main() {
	log := logger.New("governor")
	if err := run(context.Background(), log); err != nil {
		log.Error("governor stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	var cfg config
	if ok, err := appconf.Parse(log, &cfg); !ok {
		return err
	}
	if cfg.DaprHTTP == "" {
		cfg.DaprHTTP = invoke.SidecarURL()
	}
	if cfg.WakePubSub == "" {
		cfg.WakePubSub = cfg.PubSub
	}

	if _, err := profiling.Serve(ctx, log, cfg.PprofAddr); err != nil {
		return err
	}
	client, err := daprclient.Open(ctx, cfg.DaprGRPCPort, cfg.SidecarWait)
	if err != nil {
		return err
	}
	defer client.Close()

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	storeType, err := registry.ComponentType(ctx, client, cfg.StateStore)
	if err != nil {
		return err
	}
	log.Info("state store", "component", cfg.StateStore, "type", storeType)
	// encstate repairs what daprd hands back from an encrypted store; see the package.
	reg := registry.New(encstate.Wrap(client), cfg.StateStore, registry.OptionsFor(storeType)...)
	publisher := events.NewPublisher(client, cfg.PubSub, "governor")
	go reg.Relay(ctx, log, publisher, cfg.RelayInterval)

	hub := notify.NewHub()
	go func() {
		<-ctx.Done()
		hub.Close() // long-polls answer now rather than hold the graceful shutdown
	}()
	director := runtimelabels.New(invoke.New(cfg.DaprHTTP, cfg.DaprAPIToken, cfg.DirectorTimeout), cfg.DirectorAppID)
	svc := configuration.NewService(reg, director, hub, log)
	svc.EnableCaches(configuration.CacheOptions{LabelTTL: cfg.LabelCacheTTL, ConfigTTL: cfg.ConfigCacheTTL})
	kick := make(chan struct{}, 1)
	svc.OnReport(func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	})
	go driveRollouts(ctx, log, svc, cfg.RolloutTick, kick)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	// Audit records go out at once; if the broker refuses one, the outbox relay sends it later.
	audit := events.Fallback{Publisher: publisher, Spool: reg, Log: log}
	// Only callers the gateway vouches for: see package assertion.
	verify := assertion.Middleware(assertion.ForApp(client, cfg.SecretStore, cfg.AppID), log)
	mux.Handle("POST /graphql", verify(graph.NewServer(svc, log, audit)))
	topics := append([]notify.Topic{
		{Name: configuration.TopicChanged, Keys: configuration.WakeKeys},
		{Name: configuration.TopicRollout, Keys: configuration.RolloutWakeKeys},
	}, runtimelabels.Topics()...)
	for i := range topics {
		if topics[i].Name == "runtime.updated" {
			// A runtime's condition, for rollouts: one that stops heartbeating fails its step.
			topics[i].Record = func(ctx context.Context, data []byte) error {
				h, ok, err := runtimelabels.Condition(data)
				if err != nil || !ok {
					return nil // nothing to keep; the wake-up decides whether the event is readable
				}
				return svc.RecordRuntimeHealth(ctx, h)
			}
		}
	}
	subs := &notify.Subscriptions{
		Hub:    hub,
		PubSub: cfg.WakePubSub,
		Topics: topics,
		Log:    log,
	}
	subs.Register(mux)

	// Only the sidecar may call; on /graphql, only with an assertion from the gateway.
	return web.Serve(ctx, log, fmt.Sprintf(":%d", cfg.Port), web.RequireAppToken(cfg.AppAPIToken, mux), cfg.ShutdownTimeout)
}

// driveRollouts moves rollouts on every tick, and soon after an agent's report (kick). Every replica runs
// it: a step is an ETag-checked write of the configuration, so replicas racing each other cost a retry and
// never a double step, and a restarted Governor picks up where the store says. (A cron input binding, as
// the Director's health rounds use, would do the same with a component more and a granularity of one
// second; a lease would only save the duplicate reads.)
func driveRollouts(ctx context.Context, log *slog.Logger, svc *configuration.Service, every time.Duration, kick <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
		if err := svc.Tick(ctx); err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "rollout tick", "err", err)
		}
	}
}
