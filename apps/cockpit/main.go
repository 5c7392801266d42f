// Command cockpit serves the Cockpit, the plane's web UI, at /cockpit/ through the gateway. It holds no
// data of its own beyond sign-in sessions: every page is built from the public APIs, called back through
// the gateway with the signed-in user's token, so the UI can do exactly what its user may do. Pages learn
// that what they show has changed from the plane's pub/sub events.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/cockpit/activity"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/live"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/plane"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/session"
	"github.com/mgmtplane/mgmtplane/apps/cockpit/ui"
	"github.com/mgmtplane/mgmtplane/apps/internal/appconf"
	"github.com/mgmtplane/mgmtplane/apps/internal/audit"
	"github.com/mgmtplane/mgmtplane/apps/internal/daprclient"
	"github.com/mgmtplane/mgmtplane/apps/internal/devtoken"
	"github.com/mgmtplane/mgmtplane/apps/internal/events"
	"github.com/mgmtplane/mgmtplane/apps/internal/logger"
	"github.com/mgmtplane/mgmtplane/apps/internal/web"
)

type config struct {
	Port         int    `conf:"default:3006,env:APP_PORT"`
	AppID        string `conf:"default:cockpit,env:APP_ID"`
	DaprGRPCPort int    `conf:"default:50007,env:DAPR_GRPC_PORT"`
	AppAPIToken  string `conf:"env:APP_API_TOKEN,mask"`
	// SessionStore keeps sign-in sessions (components/cockpitstore.yaml).
	SessionStore string `conf:"default:cockpitstore,env:STATESTORE_NAME"`
	// PubSub is where the Cockpit hears what changed (components/cockpit-live.yaml): its own component,
	// with a consumer group per replica, so that every replica can refresh the pages it serves.
	PubSub string `conf:"default:cockpit-live,env:PUBSUB_NAME"`
	// GatewayURL is the gateway as the Cockpit reaches it; every API call goes there.
	GatewayURL string `conf:"default:http://localhost:3000,env:COCKPIT_GATEWAY_URL"`
	// SecureCookie marks the session cookie Secure: on whenever users reach the gateway over HTTPS.
	SecureCookie bool `conf:"default:false,env:COCKPIT_SECURE_COOKIE"`
	// DevSignin offers sign-in with tokens from the local development key in DataDir (make run sets it).
	// Never in production: whoever reaches the page could sign in to any tenant.
	DevSignin   bool          `conf:"default:false,env:COCKPIT_DEV_SIGNIN"`
	DataDir     string        `conf:"default:../../.data,env:MP_DATA_DIR"`
	DevTokenTTL time.Duration `conf:"default:8h,env:COCKPIT_DEV_TOKEN_TTL"`

	// The identity provider users sign in with (authorization code with PKCE): the one whose tokens the
	// gateway accepts. RedirectURL is <public gateway URL>/cockpit/signin/callback.
	OIDCIssuer       string `conf:"env:COCKPIT_OIDC_ISSUER"`
	OIDCClientID     string `conf:"env:COCKPIT_OIDC_CLIENT_ID"`
	OIDCClientSecret string `conf:"env:COCKPIT_OIDC_CLIENT_SECRET,mask"`
	OIDCRedirectURL  string `conf:"env:COCKPIT_OIDC_REDIRECT_URL"`
	OIDCScopes       string `conf:"default:profile,env:COCKPIT_OIDC_SCOPES"`
	// OIDCBearer is the token the gateway gets: access_token, or id_token for providers whose access
	// tokens are opaque or meant for another audience.
	OIDCBearer string `conf:"default:access_token,env:COCKPIT_OIDC_BEARER"`

	APITimeout time.Duration `conf:"default:30s,env:COCKPIT_API_TIMEOUT"`
	LiveMaxAge time.Duration `conf:"default:25s,env:COCKPIT_LIVE_MAX_AGE"`
	// ActivityFlush is how often the recent activity heard is written to the state store.
	ActivityFlush   time.Duration `conf:"default:5s,env:COCKPIT_ACTIVITY_FLUSH"`
	SidecarWait     time.Duration `conf:"default:60s,env:SIDECAR_WAIT"`
	ShutdownTimeout time.Duration `conf:"default:10s,env:SHUTDOWN_TIMEOUT"`
}

func main() {
	log := logger.New("cockpit")
	if err := run(context.Background(), log); err != nil {
		log.Error("cockpit stopped", "err", err)
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

	var devKey *devtoken.LocalKey
	if cfg.DevSignin {
		devKey = &devtoken.LocalKey{Dir: filepath.Join(cfg.DataDir, "jwt")}
		if err := devKey.Ensure(); err != nil {
			return fmt.Errorf("development key: %w", err)
		}
		log.Warn("development sign-in is on: anyone who reaches the Cockpit can sign in to any tenant; never in production")
	}
	var idp *ui.OIDC
	if cfg.OIDCIssuer != "" {
		if cfg.OIDCClientID == "" || cfg.OIDCRedirectURL == "" {
			return fmt.Errorf("COCKPIT_OIDC_ISSUER needs COCKPIT_OIDC_CLIENT_ID and COCKPIT_OIDC_REDIRECT_URL")
		}
		if cfg.OIDCBearer != "access_token" && cfg.OIDCBearer != "id_token" {
			return fmt.Errorf("COCKPIT_OIDC_BEARER %q: access_token or id_token", cfg.OIDCBearer)
		}
		idp = &ui.OIDC{Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret,
			RedirectURL: cfg.OIDCRedirectURL, Scopes: strings.Fields(cfg.OIDCScopes), Bearer: cfg.OIDCBearer}
	}
	hub := live.NewHub()
	// Sessions and each tenant's recent activity live in the Cockpit's own encrypted state store.
	store := session.DaprStore{API: client, Name: cfg.SessionStore}
	feed := activity.NewFeed(100)
	feed.Store, feed.Log = store, log
	flushed := make(chan struct{})
	go func() { feed.Run(ctx, cfg.ActivityFlush); close(flushed) }()
	pages, err := ui.Handler(ui.Deps{
		Log:         log,
		Sessions:    &session.Manager{Store: store, Cookie: "cockpit_session", Path: ui.Base + "/", Secure: cfg.SecureCookie},
		Plane:       plane.New(cfg.GatewayURL, cfg.APITimeout),
		Hub:         hub,
		DevKey:      devKey,
		OIDC:        idp,
		Activity:    feed,
		DevTokenTTL: cfg.DevTokenTTL,
		LiveMaxAge:  cfg.LiveMaxAge,
	})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	// What changes is announced on pub/sub; open pages showing it refresh themselves (package live).
	events.Subscribe(mux, log, append(liveSubscriptions(cfg.PubSub, hub), events.Subscription{PubSub: cfg.PubSub, Topic: audit.Topic,
		Handle: func(_ context.Context, data []byte) error {
			if !feed.Add(data) {
				return events.Drop(errors.New("not an audit record"))
			}
			return nil
		}})...)
	mux.Handle(ui.Base+"/", pages)
	mux.Handle(ui.Base, pages) // /cockpit/, as daprd passes it on (without its trailing slash)

	err = web.Serve(ctx, log, fmt.Sprintf(":%d", cfg.Port), web.RequireAppToken(cfg.AppAPIToken, mux), cfg.ShutdownTimeout)
	stop()
	<-flushed // what was heard last is stored before the sidecar goes
	return err
}

// liveSubscriptions are the topics whose events nudge open pages: applications and runtimes changing, the
// Provisioner's operations and the agents' configuration reports (announced under their runtime's ID, the
// page that shows them), and configurations changing.
func liveSubscriptions(pubsub string, hub *live.Hub) []events.Subscription {
	nudge := func(field string) func(context.Context, []byte) error {
		return func(_ context.Context, data []byte) error {
			var ev map[string]any
			if err := json.Unmarshal(data, &ev); err != nil {
				return events.Drop(err)
			}
			if id, _ := ev[field].(string); id != "" {
				hub.Changed(id)
			}
			return nil
		}
	}
	var subs []events.Subscription
	for _, topic := range []string{"application.created", "application.updated", "application.deleted",
		"runtime.created", "runtime.updated", "runtime.deleted"} {
		subs = append(subs, events.Subscription{PubSub: pubsub, Topic: topic, Handle: nudge("id")})
	}
	return append(subs,
		events.Subscription{PubSub: pubsub, Topic: "provisioning.operation", Handle: nudge("runtimeID")},
		events.Subscription{PubSub: pubsub, Topic: "configuration.changed", Handle: nudge("configurationID")},
		events.Subscription{PubSub: pubsub, Topic: "configuration.rollout", Handle: nudge("configurationID")},
		events.Subscription{PubSub: pubsub, Topic: "configuration.status", Handle: nudge("runtimeID")})
}
