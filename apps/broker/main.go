// Command broker serves the System Broker: the Open Service Broker API through which runtimes such as
// Cloud Foundry or a Kubernetes cluster with Service Catalog consume the applications they share a
// scenario with. Applications are services, their bundles plans, and a binding is a bundle instance auth
// in the Director. It is reached only through the gateway, at /broker/v2/...
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/broker/api"
	"github.com/mgmtplane/mgmtplane/apps/broker/director"
	"github.com/mgmtplane/mgmtplane/apps/broker/osb"
	"github.com/mgmtplane/mgmtplane/apps/internal/appconf"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/daprclient"
	"github.com/mgmtplane/mgmtplane/apps/internal/events"
	"github.com/mgmtplane/mgmtplane/apps/internal/invoke"
	"github.com/mgmtplane/mgmtplane/apps/internal/logger"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/web"
)

type config struct {
	Port         int    `conf:"default:3005,env:APP_PORT"`
	AppID        string `conf:"default:broker,env:APP_ID"`
	DaprGRPCPort int    `conf:"default:50006,env:DAPR_GRPC_PORT"`
	DaprHTTP     string `conf:"env:DAPR_HTTP_ENDPOINT"`
	DaprAPIToken string `conf:"env:DAPR_API_TOKEN,mask"`
	AppAPIToken  string `conf:"env:APP_API_TOKEN,mask"`
	StateStore   string `conf:"default:brokerstore,env:STATESTORE_NAME"`
	PubSub       string `conf:"default:pubsub,env:PUBSUB_NAME"`
	SecretStore  string `conf:"default:secretstore,env:SECRETSTORE_NAME"`

	DirectorAppID string `conf:"default:director,env:DIRECTOR_APP_ID"`
	// PublicURL is the gateway as runtimes reach it; the catalog's specification links start with it.
	PublicURL string `conf:"default:http://localhost:3000,env:BROKER_PUBLIC_URL"`

	RelayInterval   time.Duration `conf:"default:5s,env:OUTBOX_RELAY_INTERVAL"`
	DirectorTimeout time.Duration `conf:"default:30s,env:DIRECTOR_TIMEOUT"`
	SidecarWait     time.Duration `conf:"default:60s,env:SIDECAR_WAIT"`
	ShutdownTimeout time.Duration `conf:"default:10s,env:SHUTDOWN_TIMEOUT"`
}

func main() {
	log := logger.New("broker")
	if err := run(context.Background(), log); err != nil {
		log.Error("broker stopped", "err", err)
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
	public, err := url.Parse(strings.TrimRight(cfg.PublicURL, "/"))
	if err != nil || public.Scheme == "" || public.Host == "" {
		return fmt.Errorf("BROKER_PUBLIC_URL %q: want an absolute URL", cfg.PublicURL)
	}

	client, err := daprclient.Open(ctx, cfg.DaprGRPCPort, cfg.SidecarWait)
	if err != nil {
		return err
	}
	defer client.Close()

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Service instances and their bindings: the broker's own state store (components/brokerstore.yaml).
	storeType, err := registry.ComponentType(ctx, client, cfg.StateStore)
	if err != nil {
		return err
	}
	log.Info("state store", "component", cfg.StateStore, "type", storeType)
	reg := registry.New(client, cfg.StateStore, registry.OptionsFor(storeType)...)
	publisher := events.NewPublisher(client, cfg.PubSub, cfg.AppID)
	// Instance and binding changes, and the audit records, go out from the outbox written with them.
	go reg.Relay(ctx, log, publisher, cfg.RelayInterval)

	// Every Director call is made as the calling runtime, with its assertion (see package directorapi).
	dir := director.New(invoke.New(cfg.DaprHTTP, cfg.DaprAPIToken, cfg.DirectorTimeout), cfg.DirectorAppID)
	broker := osb.New(dir, reg, log, osb.Config{
		SpecURL: func(appID, bundleID, kind, defID string) string {
			return public.JoinPath("broker", "specifications", appID, bundleID, kind, defID).String()
		},
	})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	// Audit records go out at once when a request wrote nothing; if pub/sub refuses, the relay sends them.
	audit := events.Fallback{Publisher: publisher, Spool: reg, Log: log}
	verify := assertion.Middleware(assertion.ForApp(client, cfg.SecretStore, cfg.AppID), log)
	mux.Handle("/", verify(api.Handler(broker, log, cfg.AppID, audit)))

	return web.Serve(ctx, log, fmt.Sprintf(":%d", cfg.Port), web.RequireAppToken(cfg.AppAPIToken, mux), cfg.ShutdownTimeout)
}
