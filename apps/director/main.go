// Command director serves the Director GraphQL API: applications, runtimes, labels, scenarios, bundles and
// the rest of the Compass Director API, stored in the Registry (a Dapr state store). It is reached only
// through the gateway, by Dapr service invocation.
package main

//go:generate go tool gqlgen generate --config gqlgen.yml

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/director/access"
	"github.com/mgmtplane/mgmtplane/apps/director/application"
	"github.com/mgmtplane/mgmtplane/apps/director/apptemplate"
	"github.com/mgmtplane/mgmtplane/apps/director/bundle"
	"github.com/mgmtplane/mgmtplane/apps/director/eventing"
	"github.com/mgmtplane/mgmtplane/apps/director/graph"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/loaders"
	"github.com/mgmtplane/mgmtplane/apps/director/health"
	"github.com/mgmtplane/mgmtplane/apps/director/healthprobe"
	"github.com/mgmtplane/mgmtplane/apps/director/heartbeats"
	"github.com/mgmtplane/mgmtplane/apps/director/integrationsystem"
	"github.com/mgmtplane/mgmtplane/apps/director/label"
	"github.com/mgmtplane/mgmtplane/apps/director/pairing"
	"github.com/mgmtplane/mgmtplane/apps/director/provisioned"
	"github.com/mgmtplane/mgmtplane/apps/director/runtimecontext"
	"github.com/mgmtplane/mgmtplane/apps/director/runtimes"
	"github.com/mgmtplane/mgmtplane/apps/director/tenant"
	"github.com/mgmtplane/mgmtplane/apps/internal/appconf"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/daprclient"
	"github.com/mgmtplane/mgmtplane/apps/internal/events"
	"github.com/mgmtplane/mgmtplane/apps/internal/gqlserver"
	"github.com/mgmtplane/mgmtplane/apps/internal/heartbeatbatch"
	"github.com/mgmtplane/mgmtplane/apps/internal/invoke"
	"github.com/mgmtplane/mgmtplane/apps/internal/logger"
	"github.com/mgmtplane/mgmtplane/apps/internal/profiling"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/web"
)

type config struct {
	Port           int    `conf:"default:3001,env:APP_PORT"`
	DaprGRPCPort   int    `conf:"default:50001,env:DAPR_GRPC_PORT"`
	StateStore     string `conf:"default:registry,env:STATESTORE_NAME"`
	DaprHTTPPort   int    `conf:"default:3500,env:DAPR_HTTP_PORT"`
	DaprAPIToken   string `conf:"env:DAPR_API_TOKEN,mask"`
	ConnectorAppID string `conf:"default:connector,env:CONNECTOR_APP_ID"`
	// AppID is this app's Dapr app id: caller assertions must be addressed to it.
	AppID           string        `conf:"default:director,env:APP_ID"`
	SecretStore     string        `conf:"default:secretstore,env:SECRETSTORE_NAME"`
	PubSub          string        `conf:"default:pubsub,env:PUBSUB_NAME"`
	RelayInterval   time.Duration `conf:"default:5s,env:OUTBOX_RELAY_INTERVAL"`
	SidecarWait     time.Duration `conf:"default:60s,env:SIDECAR_WAIT"`
	ShutdownTimeout time.Duration `conf:"default:10s,env:SHUTDOWN_TIMEOUT"`
	AppAPIToken     string        `conf:"env:APP_API_TOKEN,mask"`
	HealthBinding   string        `conf:"default:healthcron,env:HEALTH_BINDING"`
	HeartbeatMaxAge time.Duration `conf:"default:30s,env:HEARTBEAT_MAX_AGE"`
	ProbeTimeout    time.Duration `conf:"default:3s,env:HEALTH_PROBE_TIMEOUT"`
	// HealthLease is how long a replica's hold on the health rounds lasts without renewal; another
	// replica takes over after it. Longer than the cron interval (components/healthcron.yaml: 5s).
	HealthLease time.Duration `conf:"default:15s,env:HEALTH_ROUND_LEASE"`
	// AppHideSelectors keep applications out of applicationsForRuntime: label-key=value pairs separated by
	// ';' (empty: none). The default is the selector Compass's chart shipped.
	AppHideSelectors string `conf:"default:applicationHideSelectorKey=applicationHideSelectorValue,env:APPLICATION_HIDE_SELECTORS"`
	// PprofAddr, when set (127.0.0.1:0 for a free port), serves Go's profiles there; off by default.
	PprofAddr string `conf:"env:PPROF_ADDR"`
}

func main() {
	log := logger.New("director")
	if err := run(context.Background(), log); err != nil {
		log.Error("director stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	var cfg config
	if ok, err := appconf.Parse(log, &cfg); !ok {
		return err
	}

	client, err := daprclient.Open(ctx, cfg.DaprGRPCPort, cfg.SidecarWait)
	if err != nil {
		return err
	}
	defer client.Close()

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := profiling.Serve(ctx, log, cfg.PprofAddr); err != nil {
		return err
	}

	storeType, err := registry.ComponentType(ctx, client, cfg.StateStore)
	if err != nil {
		return err
	}
	log.Info("registry", "component", cfg.StateStore, "type", storeType)
	reg := registry.New(client, cfg.StateStore, registry.OptionsFor(storeType)...)
	// Changes are announced on pub/sub from the registry's outbox, so none is lost between write and publish.
	go reg.Relay(ctx, log, events.NewPublisher(client, cfg.PubSub, "director"), cfg.RelayInterval)
	defs := label.NewDefinitions(reg)
	apps := application.NewService(reg, defs)
	hide, err := application.ParseHideSelectors(cfg.AppHideSelectors)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	apps.SetHideSelectors(hide)
	rts := runtimes.NewService(reg, defs)
	apps.SetRuntimeScenarios(rts.Scenarios)
	rtContexts := runtimecontext.NewService(reg, defs)
	rts.SetParts(rtContexts)
	bundles := bundle.NewService(reg, &http.Client{}, bundle.Config{})
	apps.SetParts(bundles)
	bundles.SetRuntimeScenarios(rts.Scenarios)
	lookup := eventing.NewLookup(reg)
	resolver := &graph.Resolver{
		Apps:                 apps,
		RuntimeSvc:           rts,
		RuntimeContextSvc:    rtContexts,
		Labels:               defs,
		IntegrationSystemSvc: integrationsystem.NewService(reg),
		AppTemplateSvc:       apptemplate.NewService(reg, apps),
		TenantSvc:            tenant.NewService(reg),
		HealthSvc:            health.NewService(reg),
		EventingSvc:          eventing.NewService(reg, lookup, lookup),
		Bundles:              bundles,
		Pairing:              pairing.NewService(invoke.New(fmt.Sprintf("http://127.0.0.1:%d", cfg.DaprHTTPPort), cfg.DaprAPIToken, 15*time.Second), cfg.ConnectorAppID, reg),
	}

	// Audit records go out at once; if the broker refuses one, the outbox relay sends it later. A runtime's
	// heartbeat is recorded only when it changes the runtime's condition or fails: a fleet's heartbeats
	// would otherwise push administrators' records out of the capped stream (see gqlserver.Audit).
	audit := gqlserver.Audit{
		Publisher: events.Fallback{Publisher: events.NewPublisher(client, cfg.PubSub, "director"), Spool: reg, Log: log},
		Liveness:  []string{"heartbeat"},
	}
	gql := graph.NewServer(resolver, log, audit)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	// Only callers the gateway vouches for: see package assertion.
	verifier := assertion.ForApp(client, cfg.SecretStore, cfg.AppID)
	verify := assertion.Middleware(verifier, log)
	mux.Handle("POST /graphql", verify(loaders.Middleware(gql, bundles, resolver.Pairing)))
	// Runtimes' heartbeats, handed over by the gateway in batches (package heartbeatbatch). The batch comes
	// with the gateway's own assertion (it vouches for itself as "gateway"), and every heartbeat in it with
	// its runtime's.
	mux.Handle("POST /"+heartbeatbatch.Method, verify(&heartbeats.Handler{
		Log: log, Verifier: verifier, Runtimes: rts, Audit: audit.Publisher, App: cfg.AppID, Sender: "gateway",
		Access: access.Rules,
	}))
	// The cron input binding (components/healthcron.yaml) calls this route on every tick.
	prober := &healthprobe.Prober{
		Log: log, Tenants: resolver.TenantSvc, Apps: apps, Runtimes: rts, Results: resolver.HealthSvc,
		Client: &http.Client{Timeout: cfg.ProbeTimeout}, MaxHeartbeatAge: cfg.HeartbeatMaxAge, Parallel: 8,
		Lease: &healthprobe.Lease{Store: reg, Holder: replicaName(), TTL: cfg.HealthLease},
	}
	mux.Handle("POST /"+cfg.HealthBinding, prober.Handler())
	// A runtime whose provisioning fails turns FAILED (the Provisioner announces its operations).
	events.Subscribe(mux, log, provisioned.Subscription(cfg.PubSub, rts))
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := prober.Lease.Release(ctx); err != nil {
			log.Warn("health round lease not released; another replica takes over when it runs out", "err", err)
		}
	}()

	return web.Serve(ctx, log, fmt.Sprintf(":%d", cfg.Port), web.RequireAppToken(cfg.AppAPIToken, mux), cfg.ShutdownTimeout)
}

// replicaName names this process among the Director's replicas: the host (the pod's name on
// Kubernetes), the process and a random suffix, so that no two processes share a name.
func replicaName() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%x", host, os.Getpid(), b)
}
