package apperr

import (
	"fmt"
	"net/http"
	"testing"
)

func TestHTTPStatusLeavesTheServersOwnTroubleToTheTransport(t *testing.T) {
	for code, want := range map[Code]int{
		CodeInvalidInput: http.StatusBadRequest, CodeInvalidLabelQuery: http.StatusBadRequest,
		CodeUnauthenticated: http.StatusUnauthorized, CodeForbidden: http.StatusForbidden,
		CodeNotFound: http.StatusNotFound, CodeAlreadyExists: http.StatusConflict, CodeConflict: http.StatusConflict,
		CodeUnavailable: http.StatusServiceUnavailable,
	} {
		if got, ok := HTTPStatus(code); !ok || got != want {
			t.Errorf("%s: %d %v, want %d", code, got, ok, want)
		}
	}
	for _, code := range []Code{CodeInternal, CodeNotImplemented, "SOMETHING_NEW"} {
		if got, ok := HTTPStatus(code); ok {
			t.Errorf("%s: %d, want it left to the transport", code, got)
		}
	}
	// The code of a wrapped domain error is what decides.
	if got, _ := HTTPStatus(CodeOf(fmt.Errorf("context: %w", NotFound("runtime", "rt-1")))); got != http.StatusNotFound {
		t.Errorf("wrapped NOT_FOUND: %d", got)
	}
}
