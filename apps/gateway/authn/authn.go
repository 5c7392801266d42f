// Package authn decides who is calling the gateway. Each way of authenticating is a gin middleware that,
// on success, stores an identity.Identity in the gin context for the forwarding handlers to pass on.
package authn

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

const identityKey = "mp.identity"

// Identity returns the identity an authentication middleware stored in c.
func Identity(c *gin.Context) (identity.Identity, bool) {
	v, ok := c.Get(identityKey)
	if !ok {
		return identity.Identity{}, false
	}
	id, ok := v.(identity.Identity)
	return id, ok
}

// SetIdentity stores id in c.
func SetIdentity(c *gin.Context, id identity.Identity) { c.Set(identityKey, id) }

// Method is one way of authenticating a caller.
type Method interface {
	// Applies reports whether the request carries this method's credentials.
	Applies(c *gin.Context) bool
	// Authenticate checks them and returns the caller.
	Authenticate(c *gin.Context) (identity.Identity, error)
}

// Authenticate authenticates with the first method whose credentials the request carries. A request with
// none gets 401; so does one whose credentials do not check out.
func Authenticate(methods ...Method) gin.HandlerFunc {
	return func(c *gin.Context) {
		for _, m := range methods {
			if !m.Applies(c) {
				continue
			}
			id, err := m.Authenticate(c)
			if err != nil {
				status, code, msg := http.StatusUnauthorized, "UNAUTHENTICATED", err.Error()
				var unchecked *uncheckedError
				switch {
				case errors.Is(err, ErrForbidden):
					status, code = http.StatusForbidden, "FORBIDDEN"
				case errors.As(err, &unchecked):
					// The Connector could not answer: the caller may try again, and learns nothing of the inside.
					status, code, msg = http.StatusServiceUnavailable, "UNAVAILABLE", unchecked.public
					c.Header("Retry-After", "1")
					if log := loggerOf(c); log != nil {
						log.ErrorContext(c.Request.Context(), "authentication check failed", "err", unchecked.cause)
					}
				}
				Abort(c, status, code, msg)
				return
			}
			SetIdentity(c, id)
			c.Next()
			return
		}
		Abort(c, http.StatusUnauthorized, "UNAUTHENTICATED", "no credentials: send a bearer token or a client certificate")
	}
}

// ErrForbidden marks credentials that are valid but not for this request.
var ErrForbidden = errors.New("forbidden")

// BearerToken authenticates `Authorization: Bearer <JWT>`.
type BearerToken struct{ Verifier *Verifier }

// Applies implements Method.
func (b BearerToken) Applies(c *gin.Context) bool { return c.GetHeader("Authorization") != "" }

// Authenticate implements Method.
func (b BearerToken) Authenticate(c *gin.Context) (identity.Identity, error) {
	raw, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(raw) == "" {
		return identity.Identity{}, ErrNoToken
	}
	return b.Verifier.Verify(c.Request.Context(), strings.TrimSpace(raw))
}

// ErrorBody is the JSON body of every error the gateway itself answers with. RequestID is the request's
// X-Request-Id, under which the gateway logged what happened.
type ErrorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"requestId,omitempty"`
	} `json:"error"`
}

// Abort ends the request with status and a JSON error body: the gateway's own, or the Open Service
// Broker API's on routes that asked for it (OSBErrors).
func Abort(c *gin.Context, status int, code, message string) {
	rid := c.Request.Header.Get("X-Request-Id")
	if c.GetBool(osbErrorsKey) {
		if rid != "" {
			message += " (request id " + rid + ")"
		}
		c.AbortWithStatusJSON(status, OSBErrorBody{Error: osbCode(code), Description: message})
		return
	}
	var b ErrorBody
	b.Error.Code, b.Error.Message, b.Error.RequestID = code, message, rid
	c.AbortWithStatusJSON(status, b)
}

const osbErrorsKey = "mp.osbErrors"

// OSBErrorBody is an error in the Open Service Broker API's format.
type OSBErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"description"`
}

// OSBErrors makes the gateway's own refusals on a route speak the Open Service Broker API's error format,
// which platforms such as Cloud Foundry show their users.
func OSBErrors() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Set(osbErrorsKey, true)
		c.Next()
	}
}

// osbCode turns the gateway's UPPER_SNAKE codes into the OSB's CamelCase ones.
func osbCode(code string) string {
	var b strings.Builder
	for _, word := range strings.Split(strings.ToLower(code), "_") {
		if word != "" {
			b.WriteString(strings.ToUpper(word[:1]) + word[1:])
		}
	}
	return b.String()
}

// uncheckedError means credentials could not be checked (the Connector did not answer): fail closed with a
// 503 the caller may retry, whose message tells nothing of the inside; the cause goes to the log.
type uncheckedError struct {
	public string
	cause  error
}

func (e *uncheckedError) Error() string { return e.public + ": " + e.cause.Error() }
func (e *uncheckedError) Unwrap() error { return e.cause }

func unchecked(what string, cause error) error {
	return &uncheckedError{public: "cannot check the " + what + " now; try again", cause: cause}
}

const loggerKey = "mp.logger"

// WithLogger gives the authentication middlewares the gateway's logger, for what the caller is not told.
func WithLogger(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Set(loggerKey, log)
		c.Next()
	}
}

func loggerOf(c *gin.Context) *slog.Logger {
	log, _ := c.Value(loggerKey).(*slog.Logger)
	return log
}
