// Command connector is the Connector: it establishes trust between the management plane and the
// applications and runtimes it manages. It hands out one-time tokens (for the Director), trades them for
// client certificates signed by its CA, renews and revokes those certificates, and tells the gateway
// which certificates are revoked. It also gives out OAuth client credentials and trades them for access
// tokens. Tokens, certificate records and clients live in a Dapr state store; the CA key pair and the
// token signing key come from a Dapr secret store.
package main

//go:generate go tool gqlgen generate --config gqlgen.yml

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/connector/api"
	"github.com/mgmtplane/mgmtplane/apps/connector/ca"
	"github.com/mgmtplane/mgmtplane/apps/connector/oauth"
	"github.com/mgmtplane/mgmtplane/apps/connector/trust"
	"github.com/mgmtplane/mgmtplane/apps/internal/appconf"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/daprclient"
	"github.com/mgmtplane/mgmtplane/apps/internal/events"
	"github.com/mgmtplane/mgmtplane/apps/internal/logger"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/web"
)

type config struct {
	Port         int    `conf:"default:3002,env:APP_PORT"`
	DaprGRPCPort int    `conf:"default:50001,env:DAPR_GRPC_PORT"`
	StateStore   string `conf:"default:connectorstore,env:STATESTORE_NAME"`
	PubSub       string `conf:"default:pubsub,env:PUBSUB_NAME"`
	SecretStore  string `conf:"default:secretstore,env:SECRETSTORE_NAME"`
	// AppID is this app's Dapr app id: caller assertions must be addressed to it.
	AppID    string `conf:"default:connector,env:APP_ID"`
	CASecret string `conf:"default:connector-ca,env:CA_SECRET_NAME"`
	// CAGenerate creates a CA when the secret store has none. Meant for local runs; turn it off wherever
	// the CA is provisioned, so that a missing secret fails loudly instead of replacing the CA.
	CAGenerate bool `conf:"default:true,env:CA_GENERATE"`
	// The key that signs access tokens for client credentials, kept like the CA.
	TokenKeySecret   string `conf:"default:connector-token-key,env:TOKEN_KEY_SECRET_NAME"`
	TokenKeyGenerate bool   `conf:"default:true,env:TOKEN_KEY_GENERATE"`
	// SecretsFile is the JSON file behind the local secret store, where a generated CA is kept. Empty
	// means $MP_DATA_DIR/secrets.json, or ../../.data/secrets.json (the path components/secretstore.yaml
	// uses, relative to apps/connector).
	SecretsFile string `conf:"env:MP_SECRETS_FILE"`
	DataDir     string `conf:"env:MP_DATA_DIR"`

	CertValidity        time.Duration `conf:"default:2160h,env:CERT_VALIDITY"`
	TokenTTLApplication time.Duration `conf:"default:5m,env:TOKEN_TTL_APPLICATION"`
	TokenTTLRuntime     time.Duration `conf:"default:60m,env:TOKEN_TTL_RUNTIME"`
	AccessTokenTTL      time.Duration `conf:"default:1h,env:ACCESS_TOKEN_TTL"`
	// OAuthIssuer must equal the gateway's CONNECTOR_ISSUER: it is how the gateway tells our access tokens
	// from those of the identity provider.
	OAuthIssuer   string `conf:"default:mgmtplane-connector,env:OAUTH_ISSUER"`
	OAuthTokenURL string `conf:"default:http://localhost:3000/oauth/token,env:OAUTH_TOKEN_URL"`

	ConnectorURL       string `conf:"default:http://localhost:3000/connector/graphql,env:CONNECTOR_URL"`
	DirectorURL        string `conf:"default:https://localhost:3443/director/graphql,env:DIRECTOR_URL"`
	SecureConnectorURL string `conf:"default:https://localhost:3443/connector/graphql,env:SECURE_CONNECTOR_URL"`

	// The relay publishes audit records the broker refused at first.
	RelayInterval   time.Duration `conf:"default:5s,env:OUTBOX_RELAY_INTERVAL"`
	SidecarWait     time.Duration `conf:"default:60s,env:SIDECAR_WAIT"`
	ShutdownTimeout time.Duration `conf:"default:10s,env:SHUTDOWN_TIMEOUT"`
	// AppAPIToken is what daprd sends to this app (its APP_API_TOKEN): only the sidecar may call the app,
	// which matters all the more here, since POST /tokens mints credentials.
	AppAPIToken string `conf:"env:APP_API_TOKEN,mask"`
}

func main() {
	log := logger.New("connector")
	if err := run(context.Background(), log); err != nil {
		log.Error("connector stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	var cfg config
	if ok, err := appconf.Parse(log, &cfg); !ok {
		return err
	}
	if cfg.SecretsFile == "" {
		cfg.SecretsFile = filepath.Join("../../.data", "secrets.json")
		if cfg.DataDir != "" {
			cfg.SecretsFile = filepath.Join(cfg.DataDir, "secrets.json")
		}
	}

	client, err := daprclient.Open(ctx, cfg.DaprGRPCPort, cfg.SidecarWait)
	if err != nil {
		return err
	}
	defer client.Close()

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	authority, err := ca.Load(ctx, log, client, ca.Source{
		Store: cfg.SecretStore, Secret: cfg.CASecret, Generate: cfg.CAGenerate, SecretsFile: cfg.SecretsFile,
	}, time.Now())
	if err != nil {
		return err
	}

	tokenKey, err := oauth.LoadKey(ctx, log, client, oauth.KeySource{
		Store: cfg.SecretStore, Secret: cfg.TokenKeySecret, Generate: cfg.TokenKeyGenerate, SecretsFile: cfg.SecretsFile,
	})
	if err != nil {
		return err
	}

	storeType, err := registry.ComponentType(ctx, client, cfg.StateStore)
	if err != nil {
		return err
	}
	log.Info("state store", "component", cfg.StateStore, "type", storeType)
	reg := registry.New(client, cfg.StateStore, registry.OptionsFor(storeType)...)
	svc := trust.NewService(log, reg, authority, trust.Config{
		CertValidity:        cfg.CertValidity,
		TokenTTLApplication: cfg.TokenTTLApplication,
		TokenTTLRuntime:     cfg.TokenTTLRuntime,
		ConnectorURL:        cfg.ConnectorURL,
		DirectorURL:         cfg.DirectorURL,
		SecureConnectorURL:  cfg.SecureConnectorURL,
	}, time.Now)
	clients, err := oauth.NewService(log, reg, tokenKey, oauth.Config{
		Issuer: cfg.OAuthIssuer, TokenURL: cfg.OAuthTokenURL, TokenTTL: cfg.AccessTokenTTL,
	}, time.Now)
	if err != nil {
		return err
	}

	publisher := events.NewPublisher(client, cfg.PubSub, "connector")
	go reg.Relay(ctx, log, publisher, cfg.RelayInterval)
	// Audit records go out at once; if the broker refuses one, the outbox relay sends it later.
	audit := events.Fallback{Publisher: publisher, Spool: reg, Log: log}
	handler := api.Handler(log, svc, clients, audit, assertion.ForApp(client, cfg.SecretStore, cfg.AppID))
	return web.Serve(ctx, log, fmt.Sprintf(":%d", cfg.Port), web.RequireAppToken(cfg.AppAPIToken, handler), cfg.ShutdownTimeout)
}
