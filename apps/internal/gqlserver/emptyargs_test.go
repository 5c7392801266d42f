package gqlserver

import (
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

func TestBlankEmptyParens(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{ labelDefinitions() { key } }`, `{ labelDefinitions   { key } }`},
		{`query Q() { a( ) b(,) c( # none` + "\n" + `) }`, `query Q   { a    b ,  c  # none` + "\n" + `  }`},
		{`{ a @skip() { b } }`, `{ a @skip   { b } }`},
		{`{ a(x: 1) b(x: "()") }`, `{ a(x: 1) b(x: "()") }`},
		{`{ a(x: "\"()") }`, `{ a(x: "\"()") }`},
		{`{ a(x: """ () \""" () """) b() }`, `{ a(x: """ () \""" () """) b   }`},
		{`{ a # b()` + "\n" + `c() }`, `{ a # b()` + "\n" + `c   }`},
		{`{ a(x: "unterminated` + "\n" + `) b() }`, `{ a(x: "unterminated` + "\n" + `) b   }`},
		{`{ a }`, `{ a }`},
		{`(`, `(`},
		{`{ a(`, `{ a(`},
	} {
		if got := blankEmptyParens(tc.in); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Every document that the rewrite changes was refused by the parser, and parses after it.
func TestBlankEmptyParensParses(t *testing.T) {
	for _, q := range []string{
		`{ labelDefinitions() { key } }`,
		`query Q() { a @include(if: true) { b() c(x: "()") } }`,
		`mutation() { a(in: {k: """ (" """}) { b } }`,
	} {
		if _, err := parser.ParseQuery(&ast.Source{Input: q}); err == nil {
			t.Errorf("%q parses without the rewrite", q)
		}
		if _, err := parser.ParseQuery(&ast.Source{Input: blankEmptyParens(q)}); err != nil {
			t.Errorf("%q: %v", q, err)
		}
	}
}
