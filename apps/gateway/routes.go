package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/mgmtplane/mgmtplane/apps/gateway/authn"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/logger"
)

// Invoker reaches the apps behind the gateway; *invoke.Client implements it over Dapr service invocation.
type Invoker interface {
	Do(ctx context.Context, appID, httpMethod, method string, header http.Header, body io.Reader) (*http.Response, error)
	Ready(ctx context.Context) error
}

// Signer vouches for the caller to the apps behind the gateway; *assertion.Signer implements it.
type Signer interface {
	Sign(id identity.Identity, audience ...string) (string, error)
}

// service is an app behind the gateway that serves GraphQL at /graphql.
type service struct {
	AppID string
	// Delegates are the apps AppID calls on the caller's behalf; the caller's assertion is addressed to
	// them too, so AppID can pass it on.
	Delegates []string
	// Auth authenticates its callers.
	Auth gin.HandlerFunc
	// Timeout, when set, bounds a call of AppID below the gateway's UPSTREAM_TIMEOUT. The gateway sets it
	// rather than a Dapr Resiliency timeout: daprd 1.18 crashes when an HTTP invocation under a timeout
	// policy is cancelled while its answer streams (dapr/dapr#10371), which a client giving up is enough for.
	Timeout time.Duration
}

// routeConfig is what the router needs besides its collaborators.
type routeConfig struct {
	// Services maps the public path prefix to the app behind it.
	Services map[string]service
	// Broker serves the Open Service Broker API at /broker/v2/... and the specifications its catalog links
	// to at /broker/specifications/..., when its AppID is set.
	Broker service
	// TokenAppID serves the OAuth token endpoint, POST /oauth/token (the Connector), when set.
	TokenAppID string
	// CockpitAppID serves the web UI at /cockpit/, when set. The Cockpit keeps its own sign-in session and
	// calls the public APIs back through the gateway with the user's token, so the gateway vouches for
	// nobody on these requests.
	CockpitAppID string
	// Heartbeats, when set, serves runtimes' heartbeats at POST /director/heartbeat, authenticated as the
	// Director's GraphQL API is.
	Heartbeats   *heartbeats
	MaxBodyBytes int64
}

// forwardedHeaders are the request headers passed on to the apps; credentials stay at the gateway.
var forwardedHeaders = []string{"Content-Type", "Accept", "Accept-Encoding", "X-Request-Id", "Traceparent", "Tracestate"}

// returnedHeaders are the response headers passed back to the client.
var returnedHeaders = []string{"Content-Type", "Cache-Control", "Www-Authenticate", "Retry-After", "X-Broker-Api-Request-Identity"}

// cockpitHeaders are the further response headers a web page needs from the Cockpit.
var cockpitHeaders = []string{"Set-Cookie", "Location", "Content-Security-Policy", "X-Frame-Options",
	"X-Content-Type-Options", "Referrer-Policy"}

func newRouter(log *slog.Logger, inv Invoker, sign Signer, cfg routeConfig) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery(), requestLog(log), stripIdentity(), authn.WithLogger(log))

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", func(c *gin.Context) {
		if err := inv.Ready(c.Request.Context()); err != nil {
			authn.Abort(c, http.StatusServiceUnavailable, "NOT_READY", err.Error())
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	})

	for prefix, svc := range cfg.Services {
		// The playground is a static page; the queries it sends go through authentication like any other.
		r.GET("/"+prefix+"/playground", gin.WrapH(playground.Handler(prefix+" GraphQL", "/"+prefix+"/graphql")))
		up := upstream{AppID: svc.AppID, Method: "graphql", Audience: append([]string{svc.AppID}, svc.Delegates...), Timeout: svc.Timeout}
		r.POST("/"+prefix+"/graphql", limitBody(cfg.MaxBodyBytes), svc.Auth, forward(log, inv, sign, up))
	}
	if cfg.Heartbeats != nil {
		r.POST("/director/heartbeat", limitBody(4<<10), cfg.Services["director"].Auth, cfg.Heartbeats.handle)
	}
	if cfg.Broker.AppID != "" {
		// Every method and path under /broker goes to the System Broker as it came, query included; the
		// platform's OSB headers travel with it, and the gateway's refusals speak OSB.
		up := upstream{AppID: cfg.Broker.AppID, Audience: append([]string{cfg.Broker.AppID}, cfg.Broker.Delegates...),
			Pass: []string{"X-Broker-Api-Version", "X-Broker-Api-Originating-Identity", "X-Broker-Api-Request-Identity"},
			Target: func(c *gin.Context) (string, string) {
				path := strings.TrimPrefix(c.Param("path"), "/")
				if q := c.Request.URL.RawQuery; q != "" {
					path += "?" + q
				}
				return c.Request.Method, path
			}}
		r.Any("/broker/*path", authn.OSBErrors(), limitBody(cfg.MaxBodyBytes), cfg.Broker.Auth, forward(log, inv, sign, up))
	}
	if cfg.TokenAppID != "" {
		// The token endpoint authenticates the client itself (RFC 6749 §2.3), so it gets the Authorization
		// header, and the gateway vouches for nobody.
		up := upstream{AppID: cfg.TokenAppID, Method: "oauth/token", Audience: []string{cfg.TokenAppID}, Pass: []string{"Authorization"}}
		r.POST("/oauth/token", limitBody(8<<10), anonymous(), forward(log, inv, sign, up))
	}
	if cfg.CockpitAppID != "" {
		// The session cookie is the Cockpit's credential, so it goes there and nowhere else; Origin lets the
		// Cockpit refuse cross-site form posts. What the Cockpit sets (cookies, redirects, its content
		// security policy) comes back as it was.
		up := upstream{AppID: cfg.CockpitAppID, Audience: []string{cfg.CockpitAppID},
			Pass:   []string{"Cookie", "Origin", "Sec-Fetch-Site", "Last-Event-Id"},
			Return: cockpitHeaders,
			Target: func(c *gin.Context) (string, string) {
				path := "cockpit" + c.Param("path")
				if q := c.Request.URL.RawQuery; q != "" {
					path += "?" + q
				}
				return c.Request.Method, path
			}}
		r.GET("/cockpit", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/cockpit/") })
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			r.Handle(m, "/cockpit/*path", limitBody(cfg.MaxBodyBytes), anonymous(), forward(log, inv, sign, up))
		}
	}
	return r
}

// anonymous lets a request through with no identity, for endpoints that authenticate callers themselves.
func anonymous() gin.HandlerFunc {
	return func(c *gin.Context) {
		authn.SetIdentity(c, identity.Identity{})
		c.Next()
	}
}

// requestLog logs each request once it is answered and gives it a request id.
func requestLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		rid := c.GetHeader("X-Request-Id")
		if rid == "" {
			rid = uuid.NewString()
			c.Request.Header.Set("X-Request-Id", rid)
		}
		c.Header("X-Request-Id", rid)
		c.Request = c.Request.WithContext(logger.WithAttrs(c.Request.Context(), slog.String("request_id", rid)))
		c.Next()
		level := slog.LevelInfo
		if c.Writer.Status() >= 500 {
			level = slog.LevelError
		}
		// A record built here with typed attributes and no caller's program counter, handed to the handler:
		// Log's key-value pairs box every value in an interface and convert the pairs back, and every
		// Logger method walks the stack (runtime.Callers) for a source location the gateway's logger does
		// not print, on every request the gateway serves.
		ctx := c.Request.Context()
		if h := log.Handler(); h.Enabled(ctx, level) {
			r := slog.NewRecord(time.Now(), level, "request", 0)
			r.AddAttrs(slog.String("method", c.Request.Method), slog.String("path", c.Request.URL.Path),
				slog.Int("status", c.Writer.Status()),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
			_ = h.Handle(ctx, r)
		}
	}
}

// limitBody caps the request body; reading past the cap fails, and forward answers 413.
func limitBody(max int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, max)
		c.Next()
	}
}

// upstream is where forward sends a request.
type upstream struct {
	AppID, Method string
	// Audience names the apps the caller's assertion is for.
	Audience []string
	// Pass names request headers passed on besides forwardedHeaders.
	Pass []string
	// Return names response headers passed back besides returnedHeaders, every value of each.
	Return []string
	// Target, when set, decides the HTTP method and the path (with its query) at the app; otherwise it is
	// POST to Method.
	Target func(c *gin.Context) (httpMethod, path string)
	// Timeout, when set, bounds the call (see service.Timeout).
	Timeout time.Duration
}

// forward passes the request to the upstream app through the sidecar, with a signed assertion of the
// caller's identity (package assertion) and the request headers the upstream needs. Failures to reach the
// app are answered by the gateway itself (see upstreamFailure), never with the sidecar's own error.
func forward(log *slog.Logger, inv Invoker, sign Signer, up upstream) gin.HandlerFunc {
	pass := append(slices.Clone(up.Pass), forwardedHeaders...)
	return func(c *gin.Context) {
		id, ok := authn.Identity(c)
		if !ok {
			authn.Abort(c, http.StatusUnauthorized, "UNAUTHENTICATED", "no identity")
			return
		}
		h := http.Header{}
		for _, k := range pass {
			if v := c.Request.Header.Values(k); len(v) > 0 {
				h[k] = v
			}
		}
		raw, err := sign.Sign(id, up.Audience...)
		if err != nil {
			log.ErrorContext(c.Request.Context(), "sign caller assertion", "err", err)
			abortUpstream(c, http.StatusInternalServerError, "INTERNAL", "the gateway cannot vouch for the caller now")
			return
		}
		h.Set(assertion.Header, raw)
		httpMethod, path := http.MethodPost, up.Method
		if up.Target != nil {
			httpMethod, path = up.Target(c)
		}
		ctx := c.Request.Context()
		if up.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, up.Timeout)
			defer cancel()
		}
		body, err := requestBody(c.Request)
		if err != nil {
			if !abortTooLarge(c, err) {
				authn.Abort(c, http.StatusBadRequest, "BAD_REQUEST", "cannot read the request body")
			}
			return
		}
		resp, err := inv.Do(ctx, up.AppID, httpMethod, path, h, body)
		if err != nil {
			if abortTooLarge(c, err) {
				return
			}
			status, code, msg := upstreamFailure(ctx, up.AppID, err)
			log.ErrorContext(c.Request.Context(), "forward", "app", up.AppID, "status", status, "err", err)
			abortUpstream(c, status, code, msg)
			return
		}
		defer resp.Body.Close()
		if sidecarErr, ok := sidecarError(resp); ok {
			status, code, msg := sidecarFailure(up.AppID, sidecarErr)
			log.ErrorContext(c.Request.Context(), "forward", "app", up.AppID, "status", status,
				"sidecar_status", resp.StatusCode, "sidecar_error", sidecarErr.Code, "err", sidecarErr.Message)
			abortUpstream(c, status, code, msg)
			return
		}
		for _, k := range returnedHeaders {
			if v := resp.Header.Get(k); v != "" {
				c.Header(k, v)
			}
		}
		for _, k := range up.Return {
			for _, v := range resp.Header.Values(k) {
				c.Writer.Header().Add(k, v)
			}
		}
		c.Status(resp.StatusCode)
		if err := copyBody(c.Writer, resp); err != nil {
			log.WarnContext(c.Request.Context(), "copy response", "app", up.AppID, "err", err)
		}
	}
}

// abortTooLarge answers 413 when err is limitBody's cap on the request body, read before the call (a
// buffered body) or while the sidecar was sent it (a streamed one), and reports whether it did.
func abortTooLarge(c *gin.Context, err error) bool {
	if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
		authn.Abort(c, http.StatusRequestEntityTooLarge, "BODY_TOO_LARGE", "request body exceeds the limit")
		return true
	}
	return false
}

// maxBufferedBody is the largest request body forward reads before it calls the sidecar (requestBody).
const maxBufferedBody = 64 << 10

// requestBody returns the body forward passes on. A body of a known length up to maxBufferedBody (every
// GraphQL request in practice) is read first and passed as a *bytes.Reader: net/http then sends it with
// its Content-Length, in the same write as the headers, where an io.Reader of unknown length is sent
// chunked, with the headers flushed on their own, each chunk flushed, and a goroutine and timer probing
// the body first — three writes instead of one, and chunked decoding in the sidecar. Larger bodies, and
// bodies of unknown length, stream as they come. Reading still goes through limitBody's cap.
func requestBody(r *http.Request) (io.Reader, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return http.NoBody, nil
	}
	if r.ContentLength < 0 || r.ContentLength > maxBufferedBody {
		return r.Body, nil
	}
	buf := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, buf); err != nil {
		return nil, err
	}
	return bytes.NewReader(buf), nil
}

// copyBufs are copyBody's buffers: io.Copy from a response body to gin's writer (neither a WriterTo nor
// a ReaderFrom) allocated and zeroed 32 KiB on every request, three quarters of the bytes the gateway
// allocated per request (BenchmarkForwardUserRequest), and a good part of its garbage collection.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyBody passes the app's answer on. An event stream is flushed as each piece arrives, so that the
// client sees every event when it happens rather than when a buffer fills.
func copyBody(w gin.ResponseWriter, resp *http.Response) error {
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		bp := copyBufs.Get().(*[]byte)
		defer copyBufs.Put(bp)
		_, err := io.CopyBuffer(w, resp.Body, *bp)
		return err
	}
	buf := make([]byte, 4<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			w.Flush()
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// stripIdentity removes identity headers a client may have sent, before anything reads the request.
func stripIdentity() gin.HandlerFunc {
	return func(c *gin.Context) {
		identity.StripHeaders(c.Request.Header)
		c.Next()
	}
}
