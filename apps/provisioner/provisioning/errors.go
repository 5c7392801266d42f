package provisioning

import (
	"errors"
	"fmt"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

// ReasonError is a refusal or failure the upstream API's client can act on: an apperr code for our
// clients, and a reason and component for the KCP client, which reads them from the GraphQL error's
// extensions (error_reason, error_component) next to an HTTP-like error_code (see ErrorCode).
type ReasonError struct {
	Reason    string
	Component string
	err       *apperr.Error
}

func (e *ReasonError) Error() string { return e.err.Message }

// Unwrap lets apperr.CodeOf and apperr.Public see the code and message.
func (e *ReasonError) Unwrap() error { return e.err }

// Fail returns a ReasonError with code, reason and component.
func Fail(code apperr.Code, reason, component, format string, args ...any) error {
	return &ReasonError{Reason: reason, Component: component, err: &apperr.Error{Code: code, Message: fmt.Sprintf(format, args...)}}
}

// Reason returns err's reason and component: those of a ReasonError in its chain, else ones derived from
// its apperr code.
func Reason(err error) (reason, component string) {
	var re *ReasonError
	if errors.As(err, &re) {
		return re.Reason, re.Component
	}
	switch apperr.CodeOf(err) {
	case apperr.CodeNotFound:
		return ReasonNotFound, ComponentProvisioner
	case apperr.CodeInvalidInput:
		return ReasonInvalidInput, ComponentProvisioner
	case apperr.CodeConflict:
		return ReasonOperationRunning, ComponentProvisioner
	case apperr.CodeForbidden:
		return ReasonForbidden, ComponentProvisioner
	case apperr.CodeUnauthenticated:
		return ReasonUnauthenticated, ComponentProvisioner
	case apperr.CodeUnavailable:
		return ReasonUnavailable, ComponentProvisioner
	}
	return ReasonInternal, ComponentProvisioner
}

// ErrorCode is the HTTP-like number the upstream client reads from extensions.error_code: 4xx means
// "do not retry", anything else "retry later".
func ErrorCode(err error) int {
	switch apperr.CodeOf(err) {
	case apperr.CodeInvalidInput, apperr.CodeConflict, apperr.CodeAlreadyExists:
		return 400
	case apperr.CodeUnauthenticated:
		return 401
	case apperr.CodeForbidden:
		return 403
	case apperr.CodeNotFound:
		return 404
	case apperr.CodeUnavailable:
		return 503
	}
	return 500
}
