// Command gateway is the management plane's one public entry point. It authenticates the caller, decides
// the tenant, and forwards GraphQL requests to the apps behind it through Dapr service invocation.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/mgmtplane/mgmtplane/apps/gateway/authn"
	"github.com/mgmtplane/mgmtplane/apps/internal/appconf"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/daprclient"
	"github.com/mgmtplane/mgmtplane/apps/internal/devtoken"
	"github.com/mgmtplane/mgmtplane/apps/internal/events"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/invoke"
	"github.com/mgmtplane/mgmtplane/apps/internal/logger"
	"github.com/mgmtplane/mgmtplane/apps/internal/profiling"
	"github.com/mgmtplane/mgmtplane/apps/internal/web"
)

type config struct {
	Port         int    `conf:"default:3000,env:APP_PORT"`
	DataDir      string `conf:"default:../../.data,env:MP_DATA_DIR"`
	JWKSFile     string `conf:"env:AUTH_JWKS_FILE"`
	JWKSURL      string `conf:"env:AUTH_JWKS_URL"`
	Issuer       string `conf:"env:AUTH_ISSUER"`
	Audience     string `conf:"env:AUTH_AUDIENCE"`
	DaprHTTP     string `conf:"env:DAPR_HTTP_ENDPOINT"`
	DaprGRPCPort int    `conf:"default:50001,env:DAPR_GRPC_PORT"`
	// KeyStore holds the key the gateway signs caller assertions with (package assertion): a store only
	// the gateway loads.
	KeyStore string `conf:"default:gatewaysecrets,env:ASSERTION_KEY_STORE"`
	// AssertionTTL is how long an assertion of the caller's identity is good for (at most 60s).
	AssertionTTL time.Duration `conf:"default:30s,env:ASSERTION_TTL"`
	// AssertionReuse is how long an assertion is handed out again for the same caller and audience
	// (0: a new one for every request); at most a third of AssertionTTL.
	AssertionReuse   time.Duration `conf:"default:10s,env:ASSERTION_REUSE"`
	SidecarWait      time.Duration `conf:"default:60s,env:SIDECAR_WAIT"`
	DaprAPIToken     string        `conf:"env:DAPR_API_TOKEN,mask"`
	DirectorAppID    string        `conf:"default:director,env:DIRECTOR_APP_ID"`
	ConnectorAppID   string        `conf:"default:connector,env:CONNECTOR_APP_ID"`
	GovernorAppID    string        `conf:"default:governor,env:GOVERNOR_APP_ID"`
	ProvisionerAppID string        `conf:"default:provisioner,env:PROVISIONER_APP_ID"`
	BrokerAppID      string        `conf:"default:broker,env:BROKER_APP_ID"`
	CockpitAppID     string        `conf:"default:cockpit,env:COCKPIT_APP_ID"`
	// ConnectorIssuer is the iss of the access tokens the Connector issues for client credentials (its
	// OAUTH_ISSUER); tokens claiming it are verified against the Connector's keys, not the IdP's.
	ConnectorIssuer string `conf:"default:mgmtplane-connector,env:CONNECTOR_ISSUER"`
	TLSPort         int    `conf:"default:3443,env:TLS_PORT"`
	TLSCertFile     string `conf:"env:TLS_CERT_FILE"`
	TLSKeyFile      string `conf:"env:TLS_KEY_FILE"`
	MaxBodyBytes    int64  `conf:"default:1048576,env:MAX_BODY_BYTES"`
	// Above the Governor's longest long-poll (30 s), which runtime agents hold open through the gateway.
	UpstreamTimeout time.Duration `conf:"default:45s,env:UPSTREAM_TIMEOUT"`
	// InvokeTimeout bounds calls of the Director and the Connector; the Governor's long polls get
	// UpstreamTimeout.
	InvokeTimeout time.Duration `conf:"default:15s,env:INVOKE_TIMEOUT"`
	// HeartbeatBatchWindow is how long a runtime's heartbeat waits at the gateway for others to travel to
	// the Director with it (POST /director/heartbeat); HeartbeatBatchSize ends a batch early.
	HeartbeatBatchWindow time.Duration `conf:"default:200ms,env:HEARTBEAT_BATCH_WINDOW"`
	HeartbeatBatchSize   int           `conf:"default:256,env:HEARTBEAT_BATCH_SIZE"`
	ShutdownTimeout      time.Duration `conf:"default:10s,env:SHUTDOWN_TIMEOUT"`
	// PprofAddr, when set (127.0.0.1:0 for a free port), serves Go's profiles there; off by default.
	PprofAddr string `conf:"env:PPROF_ADDR"`
	// RevocationCacheTTL is how long the Connector's answer that a client certificate is good is believed
	// without asking again (0: ask on every request). The Connector's certificate.revoked event ends it
	// at once; the TTL bounds a lost event (at 30 s, 1,000 agents still cost 33 checks a second).
	RevocationCacheTTL  time.Duration `conf:"default:2m,env:REVOCATION_CACHE_TTL"`
	RevocationCacheSize int           `conf:"default:100000,env:REVOCATION_CACHE_SIZE"`
	// RevocationPubSub is where the gateway hears certificate.revoked. Every replica must hear every
	// event, so with several replicas it needs a component whose consumerID differs per replica
	// (deploy/: gateway-revocations).
	RevocationPubSub string `conf:"default:pubsub,env:REVOCATION_PUBSUB_NAME"`
	// AppAPIToken is what daprd sends to this app (its APP_API_TOKEN); only the sidecar may deliver events.
	AppAPIToken string `conf:"env:APP_API_TOKEN,mask"`
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "token" {
		if err := tokenCommand(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "token:", err)
			os.Exit(2)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "keys" {
		if err := keysCommand(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "keys:", err)
			os.Exit(2)
		}
		return
	}
	log := logger.New("gateway")
	if err := run(context.Background(), log); err != nil {
		log.Error("gateway stopped", "err", err)
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

	keys, err := keySource(log, cfg)
	if err != nil {
		return err
	}
	// Verified tokens are remembered until they expire, as long as the key set stays the one that verified
	// them (authn.Verifier.Remember).
	users := authn.BearerToken{Verifier: &authn.Verifier{Keys: keys, Issuer: cfg.Issuer, Audience: cfg.Audience, Remember: true}}

	// The key that vouches for callers to the apps comes from the secret store, through the sidecar.
	client, err := daprclient.Open(ctx, cfg.DaprGRPCPort, cfg.SidecarWait)
	if err != nil {
		return err
	}
	defer client.Close()
	signer := &assertion.SecretSigner{Getter: client, Store: cfg.KeyStore, TTL: cfg.AssertionTTL, Reuse: cfg.AssertionReuse}
	if err := signer.Load(ctx); err != nil {
		return fmt.Errorf("assertion signing key (secret %s in store %s): %w", assertion.SigningKeySecret, cfg.KeyStore, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go signer.Watch(ctx, log, time.Minute)
	if _, err := profiling.Serve(ctx, log, cfg.PprofAddr); err != nil {
		return err
	}

	// Every call the gateway makes for itself carries its own service identity; forwarded requests carry
	// the caller's.
	inv := vouching{Client: invoke.New(cfg.DaprHTTP, cfg.DaprAPIToken, cfg.UpstreamTimeout), sign: signer}
	connector := authn.Connector{Invoker: inv, AppID: cfg.ConnectorAppID}
	revocations := authn.NewRevocationCache(connector, cfg.RevocationCacheTTL, cfg.RevocationCacheSize)
	certs := authn.ClientCertificate{Revocations: revocations}
	clients := authn.ClientCredentials{
		Verifier: &authn.Verifier{
			Keys: &authn.URLKeys{TTL: 10 * time.Minute, Get: func(ctx context.Context) (*http.Response, error) {
				return inv.Do(ctx, cfg.ConnectorAppID, http.MethodGet, "oauth/jwks.json", nil, nil)
			}},
			Issuer:        cfg.ConnectorIssuer,
			ConsumerTypes: []string{identity.ConsumerApplication, identity.ConsumerRuntime, identity.ConsumerIntegrationSystem},
			// The signature only: whether the client still exists is asked on every request.
			Remember: true,
		},
		Clients: connector,
	}
	beats := newHeartbeats(log, inv, signer, cfg.DirectorAppID, cfg.HeartbeatBatchWindow, cfg.HeartbeatBatchSize, cfg.InvokeTimeout)
	go beats.run(ctx)
	router := newRouter(log, inv, signer, routeConfig{
		Services: map[string]service{
			// The Director asks the Connector for tokens and credentials, and the Governor asks the
			// Director for a runtime's labels, on the caller's behalf.
			"director": {AppID: cfg.DirectorAppID, Delegates: []string{cfg.ConnectorAppID},
				Auth: authn.Authenticate(certs, clients, users), Timeout: cfg.InvokeTimeout},
			"governor": {AppID: cfg.GovernorAppID, Delegates: []string{cfg.DirectorAppID},
				Auth: authn.Authenticate(certs, clients, users)},
			// The Provisioner registers runtimes and asks for their one-time tokens in the Director,
			// which asks the Connector: the caller's assertion travels the whole way.
			"provisioner": {AppID: cfg.ProvisionerAppID, Delegates: []string{cfg.DirectorAppID, cfg.ConnectorAppID},
				Auth: authn.Authenticate(certs, clients, users)},
			"connector": {AppID: cfg.ConnectorAppID, Auth: authn.Authenticate(certs, authn.OneTimeToken{}), Timeout: cfg.InvokeTimeout},
		},
		// The System Broker serves runtimes; platforms know only HTTP Basic, so client credentials are
		// accepted as Basic there. It reads the Director as the calling runtime.
		Broker: service{AppID: cfg.BrokerAppID, Delegates: []string{cfg.DirectorAppID},
			Auth: authn.Authenticate(certs, authn.ClientSecret{Clients: connector}, clients, users)},
		TokenAppID:   cfg.ConnectorAppID,
		CockpitAppID: cfg.CockpitAppID,
		Heartbeats:   beats,
		MaxBodyBytes: cfg.MaxBodyBytes,
	})
	if cfg.RevocationCacheTTL > 0 {
		if cfg.AppAPIToken == "" {
			log.Warn("APP_API_TOKEN is not set: anyone who reaches the gateway can post certificate.revoked events (which can only make it ask the Connector again)")
		}
		subscribeRevocations(router, log, cfg.RevocationPubSub, cfg.AppAPIToken, revocations)
	}
	if cfg.TLSPort == 0 {
		return web.Serve(ctx, log, fmt.Sprintf(":%d", cfg.Port), router, cfg.ShutdownTimeout)
	}

	// The TLS listener is where applications and runtimes present their Connector certificates.
	server, err := serverCertificate(cfg.TLSCertFile, cfg.TLSKeyFile, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	var cas clientCAs
	go cas.refresh(ctx, log, inv, cfg.ConnectorAppID, time.Minute)
	errc := make(chan error, 1)
	go func() {
		errc <- web.ServeTLS(ctx, log, fmt.Sprintf(":%d", cfg.TLSPort), router, cas.tlsConfig(server), cfg.ShutdownTimeout)
	}()
	err = web.Serve(ctx, log, fmt.Sprintf(":%d", cfg.Port), router, cfg.ShutdownTimeout)
	cancel()
	return errors.Join(err, <-errc)
}

// keySource is where the keys that sign valid tokens come from: a JWKS URL or file in production, or for
// local runs a key generated into the data folder on first start (see `gateway token`).
func keySource(log *slog.Logger, cfg config) (authn.KeySource, error) {
	switch {
	case cfg.JWKSURL != "":
		return &authn.URLKeys{URL: cfg.JWKSURL, TTL: 10 * time.Minute}, nil
	case cfg.JWKSFile != "":
		return &authn.FileKeys{Path: cfg.JWKSFile}, nil
	}
	local := devtoken.LocalKey{Dir: filepath.Join(cfg.DataDir, "jwt")}
	if err := local.Ensure(); err != nil {
		return nil, fmt.Errorf("local signing key: %w", err)
	}
	log.Warn("verifying tokens with the local development key; set AUTH_JWKS_URL or AUTH_JWKS_FILE in production", "jwks", local.JWKSPath())
	return &authn.FileKeys{Path: local.JWKSPath()}, nil
}

// tokenCommand prints a development token signed by the local key: gateway token -tenant T [-scopes "a b"].
func tokenCommand(args []string) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	tenant := fs.String("tenant", "", "tenant the token is for (required)")
	subject := fs.String("subject", "developer", "subject (user) of the token")
	scopes := fs.String("scopes", strings.Join(identity.AllScopes, " "), "space-separated scopes")
	ttl := fs.Duration("ttl", 12*time.Hour, "validity")
	dataDir := fs.String("data", envOr("MP_DATA_DIR", "../../.data"), "data folder holding the local key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := identity.ValidateTenant(*tenant); err != nil {
		return fmt.Errorf("-tenant: %w", err)
	}
	local := devtoken.LocalKey{Dir: filepath.Join(*dataDir, "jwt")}
	if err := local.Ensure(); err != nil {
		return err
	}
	tok, err := local.Sign(*tenant, *subject, strings.Fields(*scopes), *ttl)
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}

// keysCommand makes sure the local secrets files hold the key the gateway signs caller assertions with
// (generating it on first use), or rotates it: gateway keys [-data DIR] [-rotate]. The public keys go into
// DIR/secrets.json (every app's store), the signing key into DIR/gateway-secrets.json (the gateway's
// store). make run calls it before any sidecar starts; a running gateway picks up a rotated key within a
// minute, and the apps on the first assertion signed with it.
func keysCommand(args []string) error {
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	dir := fs.String("data", envOr("MP_DATA_DIR", "../../.data"), "data folder holding the local secret stores' files")
	rotate := fs.Bool("rotate", false, "make a new signing key, keeping the previous public keys")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return assertion.EnsureLocal(filepath.Join(*dir, "secrets.json"), filepath.Join(*dir, "gateway-secrets.json"), *rotate)
}

// subscribeRevocations has the gateway's sidecar deliver certificate.revoked to the revocation cache. The
// routes share the public listeners, so only the sidecar may use them (APP_API_TOKEN).
func subscribeRevocations(router *gin.Engine, log *slog.Logger, pubsub, appToken string, cache *authn.RevocationCache) {
	mux := http.NewServeMux()
	events.Subscribe(mux, log, events.Subscription{PubSub: pubsub, Topic: authn.TopicCertificateRevoked,
		Handle: func(ctx context.Context, data []byte) error {
			err := cache.HandleRevoked(ctx, data)
			if errors.Is(err, authn.ErrUnreadableEvent) {
				return events.Drop(err)
			}
			return err
		}})
	h := gin.WrapH(web.RequireAppToken(appToken, mux))
	router.GET("/dapr/subscribe", h)
	router.POST("/events/*topic", h)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// vouching invokes other apps through the sidecar and, unless the request already carries a caller's
// assertion, adds one naming the gateway itself: the apps believe no request without one.
type vouching struct {
	*invoke.Client
	sign Signer
}

// Do implements Invoker.
func (v vouching) Do(ctx context.Context, appID, httpMethod, method string, header http.Header, body io.Reader) (*http.Response, error) {
	if header.Get(assertion.Header) == "" {
		raw, err := v.sign.Sign(identity.Identity{Subject: "gateway", ConsumerType: identity.ConsumerService}, appID)
		if err != nil {
			return nil, err
		}
		header = header.Clone()
		if header == nil {
			header = http.Header{}
		}
		header.Set(assertion.Header, raw)
	}
	return v.Client.Do(ctx, appID, httpMethod, method, header, body)
}
