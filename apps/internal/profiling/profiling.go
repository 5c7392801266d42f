// Package profiling serves Go's pprof endpoints on a listener of their own, for measuring an app under
// load. It is off unless the app is given an address: profiles show the code's inner workings and cost CPU
// to take, so they never share the app's public port and are never on by default.
package profiling

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// Serve listens on addr (such as 127.0.0.1:0, a free port) until ctx ends and returns the address it
// listens on, which it also logs. An empty addr serves nothing.
func Serve(ctx context.Context, log *slog.Logger, addr string) (string, error) {
	if addr == "" {
		return "", nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("pprof listener %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() { _ = srv.Serve(ln) }()
	log.Warn("pprof listening; unset PPROF_ADDR in production", "addr", ln.Addr().String())
	return ln.Addr().String(), nil
}
