package loaders_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/director/bundle"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/loaders"
)

// What giving a request its loaders costs when it uses none of them (application(id), mutations): every
// request to /graphql pays it.
func BenchmarkMiddlewareUnused(b *testing.B) {
	h := loaders.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if loaders.For(r.Context()) == nil {
			b.Fatal("no loaders")
		}
	}), &bundle.Service{}, nil)
	req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
