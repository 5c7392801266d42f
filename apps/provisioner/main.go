// Command provisioner serves the Runtime Provisioner: it creates, changes and deletes runtimes through
// interchangeable backends and tracks each long-running operation in a Dapr state store, so that an
// operation survives a crash of the replica running it. It is reached only through the gateway.
package main

//go:generate go tool gqlgen generate --config gqlgen.yml

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/mgmtplane/mgmtplane/apps/internal/appconf"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/daprclient"
	"github.com/mgmtplane/mgmtplane/apps/internal/encstate"
	"github.com/mgmtplane/mgmtplane/apps/internal/events"
	"github.com/mgmtplane/mgmtplane/apps/internal/invoke"
	"github.com/mgmtplane/mgmtplane/apps/internal/logger"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/web"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/director"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/gardener"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/graph"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/local"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/provisioning"
)

type config struct {
	Port         int    `conf:"default:3004,env:APP_PORT"`
	AppID        string `conf:"default:provisioner,env:APP_ID"`
	DaprGRPCPort int    `conf:"default:50005,env:DAPR_GRPC_PORT"`
	DaprHTTP     string `conf:"env:DAPR_HTTP_ENDPOINT"`
	DaprAPIToken string `conf:"env:DAPR_API_TOKEN,mask"`
	AppAPIToken  string `conf:"env:APP_API_TOKEN,mask"`
	StateStore   string `conf:"default:provisionerstore,env:STATESTORE_NAME"`
	PubSub       string `conf:"default:pubsub,env:PUBSUB_NAME"`
	SecretStore  string `conf:"default:secretstore,env:SECRETSTORE_NAME"`

	DirectorAppID string `conf:"default:director,env:DIRECTOR_APP_ID"`

	// Operation engine.
	Lease        time.Duration `conf:"default:15s,env:OPERATION_LEASE"`
	Poll         time.Duration `conf:"default:1s,env:OPERATION_POLL"`
	StageTimeout time.Duration `conf:"default:10m,env:STAGE_TIMEOUT"`
	MaxBackoff   time.Duration `conf:"default:30s,env:STAGE_MAX_BACKOFF"`

	// The local backend.
	LocalBackend     bool   `conf:"default:true,env:LOCAL_BACKEND,help:start local runtimes as processes on this machine"`
	DataDir          string `conf:"default:../../.data,env:MP_DATA_DIR"`
	RuntimesDir      string `conf:"env:RUNTIMES_DIR,help:default MP_DATA_DIR/runtimes"`
	BinDir           string `conf:"default:../../bin,env:BIN_DIR,help:folder holding runtime-agent and demo-logger"`
	Daprd            string `conf:"env:DAPRD,help:the daprd binary for local runtimes"`
	ConnectorURL     string `conf:"default:http://localhost:3000/connector/graphql,env:RUNTIME_CONNECTOR_URL"`
	GatewaySecureURL string `conf:"default:https://localhost:3443,env:RUNTIME_GATEWAY_SECURE_URL"`
	GatewayCAFile    string `conf:"env:RUNTIME_GATEWAY_CA_FILE,help:default MP_DATA_DIR/tls/gateway.crt"`
	AgentHeartbeat   string `conf:"default:10s,env:RUNTIME_HEARTBEAT_INTERVAL"`

	// The gardener backend, on when GARDENER_KUBECONFIG is set. Its agents reach the plane at
	// RUNTIME_CONNECTOR_URL and RUNTIME_GATEWAY_SECURE_URL (with RUNTIME_GATEWAY_CA_FILE's CA when it exists).
	GardenerKubeconfig string        `conf:"env:GARDENER_KUBECONFIG,help:the Gardener project's kubeconfig (a path); empty turns the gardener backend off"`
	GardenerProject    string        `conf:"env:GARDENER_PROJECT,help:the Gardener project; its namespace is garden-<project>"`
	GardenerNamespace  string        `conf:"env:GARDENER_NAMESPACE,help:default garden-GARDENER_PROJECT"`
	AgentManifest      string        `conf:"default:../../deploy/runtime-agent.yaml,env:GARDENER_AGENT_MANIFEST"`
	AgentNamespace     string        `conf:"default:mgmtplane-runtime,env:GARDENER_AGENT_NAMESPACE,help:the agent's namespace in every shoot"`
	AgentImage         string        `conf:"env:GARDENER_AGENT_IMAGE,help:default the manifest's image"`
	ShootTimeout       time.Duration `conf:"default:60m,env:GARDENER_SHOOT_TIMEOUT,help:limit of the stages waiting for Gardener"`

	RelayInterval   time.Duration `conf:"default:5s,env:OUTBOX_RELAY_INTERVAL"`
	SidecarWait     time.Duration `conf:"default:60s,env:SIDECAR_WAIT"`
	ShutdownTimeout time.Duration `conf:"default:10s,env:SHUTDOWN_TIMEOUT"`
}

func main() {
	log := logger.New("provisioner")
	if err := run(context.Background(), log); err != nil {
		log.Error("provisioner stopped", "err", err)
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
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	if cfg.RuntimesDir == "" {
		cfg.RuntimesDir = filepath.Join(cfg.DataDir, "runtimes")
	}
	if cfg.GatewayCAFile == "" {
		cfg.GatewayCAFile = filepath.Join(cfg.DataDir, "tls", "gateway.crt")
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
	// The store holds one-time tokens and the runtimes' API tokens: daprd encrypts it (components/
	// provisionerstore.yaml); encstate repairs what daprd hands back from an encrypted store.
	reg := registry.New(encstate.Wrap(client), cfg.StateStore, registry.OptionsFor(storeType)...)
	publisher := events.NewPublisher(client, cfg.PubSub, "provisioner")
	// Stage changes go out from the outbox, written with the change itself.
	go reg.Relay(ctx, log, publisher, cfg.RelayInterval)

	var backends []provisioning.Backend
	// The local backend starts runtimes as processes beside the Provisioner: right on a laptop, wrong in a
	// pod, where LOCAL_BACKEND=false turns it off (deploy/provisioner.yaml).
	if cfg.LocalBackend {
		backends = append(backends, local.New(local.Config{
			Root:         abs(cfg.RuntimesDir),
			Daprd:        cfg.Daprd,
			Agent:        abs(filepath.Join(cfg.BinDir, "runtime-agent")),
			Workloads:    map[string]string{"demo-logger": abs(filepath.Join(cfg.BinDir, "demo-logger"))},
			ConnectorURL: cfg.ConnectorURL, GatewaySecureURL: cfg.GatewaySecureURL, GatewayCAFile: abs(cfg.GatewayCAFile),
			AgentEnv: map[string]string{"HEARTBEAT_INTERVAL": cfg.AgentHeartbeat},
		}))
	}
	if cfg.GardenerKubeconfig != "" {
		g, err := gardenerBackend(cfg)
		if err != nil {
			return err
		}
		backends = append(backends, g)
		log.Info("gardener backend on", "namespace", g.Namespace())
	}
	if len(backends) == 0 {
		return errors.New("no backend: set GARDENER_KUBECONFIG, or LOCAL_BACKEND=true")
	}
	engine := provisioning.NewEngine(reg, log, provisioning.EngineConfig{
		Replica: replicaName(), Lease: cfg.Lease, Poll: cfg.Poll, StageTimeout: cfg.StageTimeout, MaxBackoff: cfg.MaxBackoff,
	}, backends...)
	inv := invoke.New(cfg.DaprHTTP, cfg.DaprAPIToken, 15*time.Second)
	svc := provisioning.NewService(reg, engine, director.New(inv, cfg.DirectorAppID), log)

	engineDone := make(chan struct{})
	go func() {
		// Runtimes that stopped while no provisioner ran (a local runtime ends with the run that started
		// it) start again; then the operations in progress go on.
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		engine.Revive(rctx)
		cancel()
		engine.Run(ctx)
		close(engineDone)
	}()
	defer func() { <-engineDone }()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	// Audit records go out at once; if the broker refuses one, the outbox relay sends it later.
	audit := events.Fallback{Publisher: publisher, Spool: reg, Log: log}
	verify := assertion.Middleware(assertion.ForApp(client, cfg.SecretStore, cfg.AppID), log)
	mux.Handle("POST /graphql", verify(graph.NewServer(svc, log, audit)))
	// The Director announces runtime changes; a provisioned runtime is done when its agent connected.
	events.Subscribe(mux, log, runtimeChanges(cfg.PubSub, svc))

	return web.Serve(ctx, log, fmt.Sprintf(":%d", cfg.Port), web.RequireAppToken(cfg.AppAPIToken, mux), cfg.ShutdownTimeout)
}

// gardenerBackend builds the gardener backend from the project's kubeconfig and the agent's manifest.
func gardenerBackend(cfg config) (*gardener.Backend, error) {
	garden, err := clientcmd.BuildConfigFromFlags("", cfg.GardenerKubeconfig)
	if err != nil {
		return nil, fmt.Errorf("GARDENER_KUBECONFIG: %w", err)
	}
	ns := cfg.GardenerNamespace
	if ns == "" {
		if cfg.GardenerProject == "" {
			return nil, errors.New("the gardener backend needs GARDENER_PROJECT (or GARDENER_NAMESPACE)")
		}
		ns = "garden-" + cfg.GardenerProject
	}
	manifest, err := gardener.LoadAgentManifest(cfg.AgentManifest)
	if err != nil {
		return nil, err
	}
	// The gateway's CA, when the plane has its own: an agent in a shoot needs it as a local one does.
	ca, err := os.ReadFile(cfg.GatewayCAFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("RUNTIME_GATEWAY_CA_FILE: %w", err)
	}
	return gardener.New(gardener.Config{
		Garden: garden, Namespace: ns, AgentManifest: manifest, AgentNamespace: cfg.AgentNamespace, AgentImage: cfg.AgentImage,
		ConnectorURL: cfg.ConnectorURL, GatewaySecureURL: cfg.GatewaySecureURL, GatewayCA: ca, ShootTimeout: cfg.ShootTimeout,
	})
}

// replicaName tells this replica's operation leases from another's: the pod's name on Kubernetes, else
// the host name, with a random suffix so that a restarted replica is a new holder.
func replicaName() string {
	name := os.Getenv("POD_NAME")
	if name == "" {
		name, _ = os.Hostname()
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return name + "-" + hex.EncodeToString(b)
}
