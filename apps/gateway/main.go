// Command gateway is the management plane's one public entry point. It authenticates the caller, decides
// the tenant, and forwards GraphQL requests to the apps behind it through Dapr service invocation.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/ardanlabs/conf/v3"

	"github.com/mgmtplane/mgmtplane/apps/gateway/authn"
	"github.com/mgmtplane/mgmtplane/apps/internal/invoke"
	"github.com/mgmtplane/mgmtplane/apps/internal/logger"
	"github.com/mgmtplane/mgmtplane/apps/internal/web"
)

type config struct {
	Port            int           `conf:"default:3000,env:APP_PORT"`
	DaprHTTP        string        `conf:"env:DAPR_HTTP_ENDPOINT"`
	DaprAPIToken    string        `conf:"env:DAPR_API_TOKEN,mask"`
	DirectorAppID   string        `conf:"default:director,env:DIRECTOR_APP_ID"`
	MaxBodyBytes    int64         `conf:"default:1048576,env:MAX_BODY_BYTES"`
	UpstreamTimeout time.Duration `conf:"default:30s,env:UPSTREAM_TIMEOUT"`
	ShutdownTimeout time.Duration `conf:"default:10s,env:SHUTDOWN_TIMEOUT"`
}

func main() {
	log := logger.New("gateway")
	if err := run(context.Background(), log); err != nil {
		log.Error("gateway stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	var cfg config
	if help, err := conf.Parse("", &cfg); err != nil {
		if errors.Is(err, conf.ErrHelpWanted) {
			fmt.Println(help)
			return nil
		}
		return fmt.Errorf("config: %w", err)
	}
	if cfg.DaprHTTP == "" {
		cfg.DaprHTTP = invoke.SidecarURL()
	}
	out, _ := conf.String(&cfg)
	log.Info("starting", "config", out)

	inv := invoke.New(cfg.DaprHTTP, cfg.DaprAPIToken, cfg.UpstreamTimeout)
	router := newRouter(log, inv, authn.TenantHeader(), routeConfig{
		Services:     map[string]string{"director": cfg.DirectorAppID},
		MaxBodyBytes: cfg.MaxBodyBytes,
	})
	return web.Serve(ctx, log, fmt.Sprintf(":%d", cfg.Port), router, cfg.ShutdownTimeout)
}
