// Command runtime-agent runs once per runtime, next to the runtime's Dapr sidecars. It pairs with the
// management plane through the Connector (one-time token, then a client certificate it keeps renewed),
// follows the Runtime Governor's configuration for the runtime, turns every revision into Dapr components
// the sidecars hot-reload, checks that they loaded, reports the outcome, and sends the Director heartbeats.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/appconf"
	"github.com/mgmtplane/mgmtplane/apps/internal/connectorclient"
	"github.com/mgmtplane/mgmtplane/apps/internal/logger"
	"github.com/mgmtplane/mgmtplane/apps/internal/web"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/credentials"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/heartbeat"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/planeapi"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/reconcile"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/sidecar"
)

type config struct {
	Port      int    `conf:"default:3005,env:APP_PORT"`
	RuntimeID string `conf:"required,env:RUNTIME_ID"`

	// The token flow goes to the gateway's plain HTTP listener; everything else to its TLS listener.
	ConnectorURL       string `conf:"default:http://localhost:3000/connector/graphql,env:CONNECTOR_URL"`
	GatewaySecureURL   string `conf:"required,env:GATEWAY_SECURE_URL"`
	ConnectorSecureURL string `conf:"env:CONNECTOR_SECURE_URL,help:default GATEWAY_SECURE_URL/connector/graphql"`
	GatewayCAFile      string `conf:"env:GATEWAY_CA_FILE,help:CA of the gateway's TLS certificate when it is not the Connector's CA"`
	OneTimeToken       string `conf:"env:ONE_TIME_TOKEN,mask"`
	OneTimeTokenFile   string `conf:"env:ONE_TIME_TOKEN_FILE,help:default MP_DATA_DIR/runtime-agent/token"`
	// A token that differs from the one the stored certificate was paired with means "pair again".
	TokenPoll     time.Duration `conf:"default:10s,env:TOKEN_POLL_INTERVAL,help:how often the token file is read to notice a new one-time token"`
	PairingSecret string        `conf:"env:PAIRING_SECRET,help:kubernetes: the Secret holding the token; the agent reports its pairing status on it"`
	// DataDir is the repository's git-ignored data folder, seen from apps/runtime-agent as the other apps do.
	DataDir        string `conf:"default:../../.data,env:MP_DATA_DIR"`
	CredentialsDir string `conf:"env:CREDENTIALS_DIR,help:default MP_DATA_DIR/runtime-agent/credentials"`

	ApplyMode    string `conf:"default:standalone,env:APPLY_MODE,help:standalone or kubernetes"`
	IgnoreErrors bool   `conf:"default:true,env:COMPONENT_IGNORE_ERRORS"`
	// Standalone: component files in the runtime sidecars' resources folder, secrets in a local file.
	ResourcesDir    string `conf:"env:RESOURCES_DIR,help:default MP_DATA_DIR/runtime/resources"`
	SecretsFile     string `conf:"env:SECRETS_FILE,help:default MP_DATA_DIR/runtime-agent/secrets.json"`
	SecretStoreName string `conf:"default:mgmtplane-agent-secrets,env:SECRET_STORE_NAME"`
	FilePrefix      string `conf:"default:mgmtplane-agent-,env:FILE_PREFIX"`
	// Kubernetes: Component resources and Secrets in the runtime's namespace.
	Namespace    string `conf:"env:NAMESPACE"`
	Owner        string `conf:"env:OWNER,help:group/version/resource/name of the owner object, e.g. apps/v1/deployments/runtime-agent"`
	SecretPrefix string `conf:"default:mgmtplane-agent-,env:SECRET_PREFIX"`
	Kubeconfig   string `conf:"env:KUBECONFIG"`

	RuntimeSidecarURL   string        `conf:"env:RUNTIME_SIDECAR_URL,help:HTTP API of the runtime sidecar that loads the components; empty skips verification"`
	RuntimeSidecarToken string        `conf:"env:RUNTIME_DAPR_API_TOKEN,mask"`
	VerifyTimeout       time.Duration `conf:"default:30s,env:VERIFY_TIMEOUT"`
	VerifySettle        time.Duration `conf:"default:1s,env:VERIFY_SETTLE"`

	LongPollWait      time.Duration `conf:"default:25s,env:LONG_POLL_WAIT"`
	FullFetchInterval time.Duration `conf:"default:60s,env:FULL_FETCH_INTERVAL"`
	HeartbeatInterval time.Duration `conf:"default:10s,env:HEARTBEAT_INTERVAL"`
	RetryMax          time.Duration `conf:"default:5m,env:RETRY_MAX"`
	// Drift: what the runtime runs is compared with the revision applied on every change seen (files
	// watched, or a Kubernetes watch) and every DRIFT_CHECK_INTERVAL; DRIFT_CHECK_INTERVAL=0 turns it off.
	DriftCheckInterval time.Duration `conf:"default:30s,env:DRIFT_CHECK_INTERVAL"`
	DriftSettle        time.Duration `conf:"default:500ms,env:DRIFT_SETTLE,help:quiet time after a change before the runtime is compared"`
	DriftQuiet         time.Duration `conf:"default:5s,env:DRIFT_QUIET,help:drift again within this time of a correction makes corrections back off"`
	ShutdownTimeout    time.Duration `conf:"default:10s,env:SHUTDOWN_TIMEOUT"`
}

func main() {
	log := logger.New("runtime-agent")
	if err := run(context.Background(), log); err != nil {
		log.Error("runtime-agent stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	var cfg config
	if ok, err := appconf.Parse(log, &cfg); !ok {
		return err
	}
	setDefault(&cfg.OneTimeTokenFile, filepath.Join(cfg.DataDir, "runtime-agent", "token"))
	setDefault(&cfg.CredentialsDir, filepath.Join(cfg.DataDir, "runtime-agent", "credentials"))
	setDefault(&cfg.SecretsFile, filepath.Join(cfg.DataDir, "runtime-agent", "secrets.json"))
	setDefault(&cfg.ResourcesDir, filepath.Join(cfg.DataDir, "runtime", "resources"))
	if cfg.ConnectorSecureURL == "" {
		cfg.ConnectorSecureURL = strings.TrimRight(cfg.GatewaySecureURL, "/") + "/connector/graphql"
	}
	log = log.With("runtimeID", cfg.RuntimeID)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The applier first: a misconfigured resources folder or cluster access should stop the agent before it
	// uses up a one-time token.
	applier, err := newApplier(ctx, cfg, log)
	if err != nil {
		return err
	}

	roots, err := loadCA(cfg.GatewayCAFile)
	if err != nil {
		return err
	}
	report, err := newPairingReporter(cfg)
	if err != nil {
		return err
	}
	creds := credentials.New(newConnector(cfg, roots), credentials.Config{
		Dir:       cfg.CredentialsDir,
		Token:     tokenSource(cfg.OneTimeToken, cfg.OneTimeTokenFile),
		TokenPoll: cfg.TokenPoll,
		Report:    report,
		RetryMin:  time.Second,
		RetryMax:  cfg.RetryMax,
		RootCAs:   roots,
	}, log)

	var loop atomic.Pointer[reconcile.Loop] // set once the agent has credentials; read by /healthz
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		body := map[string]any{"status": "ok", "certificateNotAfter": creds.Validity().NotAfter, "pairing": creds.Status()}
		if l := loop.Load(); l != nil {
			body["lastRevision"] = l.State()
		}
		_ = json.NewEncoder(w).Encode(body)
	})
	var wg sync.WaitGroup
	defer wg.Wait()
	serveErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		serveErr <- web.Serve(ctx, log, fmt.Sprintf(":%d", cfg.Port), mux, cfg.ShutdownTimeout)
	}()

	if err := creds.Bootstrap(ctx); err != nil {
		stop()
		if serr := <-serveErr; ctx.Err() != nil && serr == nil {
			return nil // stopped by a signal before pairing succeeded
		}
		return err
	}
	plane := planeapi.New(cfg.GatewaySecureURL, creds.HTTPClient())
	var verifier reconcile.Verifier
	if cfg.RuntimeSidecarURL != "" {
		verifier = &sidecar.Verifier{
			Client:   sidecar.NewClient(cfg.RuntimeSidecarURL, cfg.RuntimeSidecarToken),
			Timeout:  cfg.VerifyTimeout,
			Settle:   cfg.VerifySettle,
			Interval: 250 * time.Millisecond,
		}
	}
	rl := reconcile.New(plane, applier, verifier, reconcile.Config{
		RuntimeID:      cfg.RuntimeID,
		PollWait:       cfg.LongPollWait,
		FullFetchEvery: cfg.FullFetchInterval,
		RetryMin:       time.Second,
		RetryMax:       min(cfg.RetryMax, 30*time.Second),

		DriftCheckEvery: cfg.DriftCheckInterval,
		DriftSettle:     cfg.DriftSettle,
		DriftQuiet:      cfg.DriftQuiet,
	}, log)
	if cfg.DriftCheckInterval > 0 {
		rl.WatchDrift(applier)
	} else {
		log.WarnContext(ctx, "drift detection is off (DRIFT_CHECK_INTERVAL=0)")
	}
	loop.Store(rl)

	wg.Add(3)
	go func() { defer wg.Done(); _ = creds.Run(ctx) }()
	go func() { defer wg.Done(); heartbeat.Run(ctx, log, plane, cfg.RuntimeID, cfg.HeartbeatInterval) }()
	go func() { defer wg.Done(); rl.Run(ctx) }()

	// The server stops when ctx ends (signal) or fails on its own; either way everything else stops too.
	err = <-serveErr
	stop()
	return err
}

func setDefault(v *string, def string) {
	if *v == "" {
		*v = def
	}
}

// tokenSource returns the one-time token, preferring the file (read on every call, so that a new token
// dropped there is used without a restart) over the variable.
func tokenSource(token, file string) func() (string, error) {
	return func() (string, error) {
		if file != "" {
			b, err := os.ReadFile(file)
			switch {
			case err == nil:
				return strings.TrimSpace(string(b)), nil
			case !errors.Is(err, fs.ErrNotExist) || token == "":
				return "", fmt.Errorf("one-time token file: %w", err)
			}
		}
		return strings.TrimSpace(token), nil
	}
}

func loadCA(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("gateway CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("gateway CA: no certificate in %s", file)
	}
	return pool, nil
}

// connector adapts connectorclient to the credentials manager, which keeps credentials as the narrow
// credentials.Issued interface.
type connector struct {
	client    *connectorclient.Client
	secureURL string
}

func newConnector(cfg config, roots *x509.CertPool) connector {
	hc := &http.Client{Timeout: 30 * time.Second}
	if roots != nil {
		// connectorclient.Renew takes the trust anchors of this client's transport over the Connector CA.
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	}
	return connector{client: connectorclient.New(cfg.ConnectorURL, hc), secureURL: cfg.ConnectorSecureURL}
}

func (c connector) Pair(ctx context.Context, token string) (credentials.Issued, error) {
	cred, err := c.client.Pair(ctx, token)
	if err != nil {
		return nil, err
	}
	return cred, nil
}

func (c connector) Renew(ctx context.Context, cur credentials.Issued) (credentials.Issued, error) {
	cred, ok := cur.(*connectorclient.Credentials)
	if !ok {
		return nil, fmt.Errorf("renew: unexpected credentials type %T", cur)
	}
	next, err := c.client.Renew(ctx, c.secureURL, cred)
	if err != nil {
		return nil, err
	}
	return next, nil
}

func (c connector) Load(dir string) (credentials.Issued, error) {
	cred, err := connectorclient.Load(dir)
	if err != nil {
		return nil, err
	}
	return cred, nil
}
