// Command demo-logger is the local runtime's demo workload: it writes a log line every second through the
// Dapr output binding named "logging". It knows nothing of where the lines go — the Runtime Governor
// decides that, and the Runtime Agent turns the decision into the binding component its sidecar loads.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/appconf"
	"github.com/mgmtplane/mgmtplane/apps/internal/logger"
)

type config struct {
	Interval     time.Duration `conf:"default:1s,env:LOG_INTERVAL"`
	Binding      string        `conf:"default:logging,env:LOGGING_BINDING"`
	DaprHTTPPort int           `conf:"default:3500,env:DAPR_HTTP_PORT"`
	DaprAPIToken string        `conf:"env:DAPR_API_TOKEN,mask"`
	Runtime      string        `conf:"default:local,env:RUNTIME_NAME"`
}

func main() {
	log := logger.New("demo-logger")
	if err := run(context.Background(), log); err != nil {
		log.Error("demo-logger stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	var cfg config
	if ok, err := appconf.Parse(log, &cfg); !ok {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	url := fmt.Sprintf("http://127.0.0.1:%d/v1.0/bindings/%s", cfg.DaprHTTPPort, cfg.Binding)
	client := &http.Client{Timeout: 5 * time.Second}
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	delivering := true
	for seq := 1; ; seq++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		line := map[string]any{"runtime": cfg.Runtime, "seq": seq, "time": time.Now().UTC().Format(time.RFC3339Nano), "message": "hello from the demo workload"}
		err := send(ctx, client, url, cfg.DaprAPIToken, line)
		// No binding yet (or a bad one): the line is lost, and the next one tries again. Only changes are
		// logged, so that a runtime without configuration does not flood its log.
		switch {
		case err != nil && delivering:
			log.Warn("log lines are not delivered (is the logging binding configured?)", "seq", seq, "err", err)
		case err == nil && !delivering:
			log.Info("log lines are delivered through the logging binding again", "seq", seq)
		}
		delivering = err == nil
	}
}

func send(ctx context.Context, client *http.Client, url, token string, line map[string]any) error {
	body, _ := json.Marshal(map[string]any{"operation": "post", "data": line})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("dapr-api-token", token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e struct{ Message string }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("binding %s: %s", resp.Status, e.Message)
	}
	return nil
}
