// Package web runs an app's HTTP server until the process is told to stop.
package web

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Serve listens on addr until ctx ends or SIGINT/SIGTERM arrives, then shuts down gracefully, giving
// in-flight requests up to grace to finish.
func Serve(ctx context.Context, log *slog.Logger, addr string, h http.Handler, grace time.Duration) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return serve(ctx, log, srv, grace, srv.ListenAndServe)
}

// ServeTLS is Serve over TLS with cfg (which holds the server certificate).
func ServeTLS(ctx context.Context, log *slog.Logger, addr string, h http.Handler, cfg *tls.Config, grace time.Duration) error {
	srv := &http.Server{Addr: addr, Handler: h, TLSConfig: cfg, ReadHeaderTimeout: 10 * time.Second}
	return serve(ctx, log, srv, grace, func() error { return srv.ListenAndServeTLS("", "") })
}

func serve(ctx context.Context, log *slog.Logger, srv *http.Server, grace time.Duration, listen func() error) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	errc := make(chan error, 1)
	go func() {
		log.Info("listening", "addr", srv.Addr, "tls", srv.TLSConfig != nil)
		errc <- listen()
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", srv.Addr, err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "addr", srv.Addr)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// RequireAppToken lets through only requests from the app's own sidecar: Dapr sends the APP_API_TOKEN it
// was started with in the dapr-api-token header. Without a token configured (a bare local run) every
// request passes. Health checks stay open for the orchestrator.
func RequireAppToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := []byte(token) // once, not on every request
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || subtle.ConstantTimeCompare([]byte(r.Header.Get("dapr-api-token")), want) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		WriteError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "only this app's Dapr sidecar may call it")
	})
}

// WriteError answers status with the plane's JSON error body, {"error": {"code": ..., "message": ...}}, for
// the routes apps serve to each other and to their sidecars (GraphQL routes answer GraphQL errors).
func WriteError(w http.ResponseWriter, status int, code, message string) {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = code, message
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
