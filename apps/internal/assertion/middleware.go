package assertion

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/web"
)

type rawKey struct{}

// Middleware lets a request through only with a valid assertion addressed to this app, and puts the caller
// it names into the request context (identity.FromContext) together with the assertion itself, which
// Propagate passes on to the next app. Anything else is answered 401 with a JSON error, and the handler
// never runs: without an assertion a request has no identity this app can believe, whatever headers it
// carries.
func Middleware(v *Verifier, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw := r.Header.Get(Header)
			c, err := v.Verify(r.Context(), raw)
			if err != nil {
				refuse(w, r, log, err)
				return
			}
			ctx := identity.NewContext(r.Context(), c.Identity())
			ctx = context.WithValue(ctx, rawKey{}, raw)
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// refuse answers 401, or 503 when the keys could not be read: the caller may well be legitimate then.
func refuse(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, code, msg := http.StatusUnauthorized, "UNAUTHENTICATED", err.Error()
	if !Refused(err) {
		status, code, msg = http.StatusServiceUnavailable, "UNAVAILABLE", "cannot verify the caller now; try again"
		log.ErrorContext(r.Context(), "caller assertion not checked", "err", err)
	} else {
		// A refused assertion inside the mesh is not a client mistake: someone bypassed the gateway.
		log.WarnContext(r.Context(), "caller assertion refused", "err", err, "path", r.URL.Path,
			"dapr_caller", r.Header.Get("dapr-caller-app-id"))
	}
	web.WriteError(w, status, code, msg)
}

// Refused reports whether err from Verify is a judgement on the assertion (missing, forged, expired,
// addressed elsewhere) rather than a failure to judge it (the keys could not be read): the first is the
// caller's to fix, the second is worth trying again.
func Refused(err error) bool {
	for _, e := range []error{ErrMissing, ErrMalformed, ErrSignature, ErrExpired, ErrAudience, ErrLifetime, ErrUnknownKey} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Propagate puts the assertion of the request in ctx on h, for a call to another app on the caller's
// behalf. It reports false when ctx carries none (the call is not on behalf of a caller).
func Propagate(ctx context.Context, h http.Header) bool {
	raw, _ := ctx.Value(rawKey{}).(string)
	if raw == "" {
		return false
	}
	h.Set(Header, raw)
	return true
}

// NewContext returns ctx carrying raw as the request's assertion, as Middleware stores it; for callers
// that hold an assertion outside a request, and for tests.
func NewContext(ctx context.Context, raw string) context.Context {
	return context.WithValue(ctx, rawKey{}, raw)
}
