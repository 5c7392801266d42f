// Package apperr gives domain errors a stable code that transports turn into GraphQL error codes or HTTP
// statuses in one place. Domain code returns these (wrapped with context as usual); anything else is an
// internal error whose details stay in the logs.
package apperr

import (
	"errors"
	"fmt"
	"net/http"
)

// Code classifies an error for clients.
type Code string

// Codes shared by every app.
const (
	CodeInvalidInput      Code = "INVALID_INPUT"
	CodeNotFound          Code = "NOT_FOUND"
	CodeAlreadyExists     Code = "ALREADY_EXISTS"
	CodeConflict          Code = "CONFLICT"
	CodeUnauthenticated   Code = "UNAUTHENTICATED"
	CodeForbidden         Code = "FORBIDDEN"
	CodeNotImplemented    Code = "NOT_IMPLEMENTED"
	CodeInvalidLabelQuery Code = "INVALID_LABEL_FILTER"
	CodeUnavailable       Code = "UNAVAILABLE"
	CodeInternal          Code = "INTERNAL"
)

// Error is an error with a code meant for the client.
type Error struct {
	Code    Code
	Message string
	// NameTaken marks an ALREADY_EXISTS error about a name another object already has (rather than an id
	// or a key), for transports that tell the two apart (the Director: Compass's "Object name is not
	// unique").
	NameTaken bool
}

func (e *Error) Error() string { return e.Message }

// New returns an error with code and a message for the client.
func New(code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an INVALID_INPUT error.
func Invalid(format string, args ...any) error { return New(CodeInvalidInput, format, args...) }

// NameNotUnique returns an ALREADY_EXISTS error for a name that another object already has.
func NameNotUnique(format string, args ...any) error {
	return &Error{Code: CodeAlreadyExists, Message: fmt.Sprintf(format, args...), NameTaken: true}
}

// NotFound returns a NOT_FOUND error for the object kind with id.
func NotFound(kind, id string) error { return New(CodeNotFound, "%s %q not found", kind, id) }

// CodeOf returns the code of the first *Error in err's chain, or CodeInternal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Public returns the message a client may see for err, and whether err is one the client may see at all.
func Public(err error) (string, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Message, true
	}
	return "", false
}

// HTTPStatus is the HTTP status of a code that speaks of the client's request or standing (4xx) or of a
// dependency it may try again later (503), for REST transports; ok is false for the codes that are the
// server's own trouble (INTERNAL, NOT_IMPLEMENTED), whose status the transport picks.
func HTTPStatus(c Code) (status int, ok bool) {
	switch c {
	case CodeInvalidInput, CodeInvalidLabelQuery:
		return http.StatusBadRequest, true
	case CodeUnauthenticated:
		return http.StatusUnauthorized, true
	case CodeForbidden:
		return http.StatusForbidden, true
	case CodeNotFound:
		return http.StatusNotFound, true
	case CodeAlreadyExists, CodeConflict:
		return http.StatusConflict, true
	case CodeUnavailable:
		return http.StatusServiceUnavailable, true
	}
	return 0, false
}
