package gqlserver

import (
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

func TestSelectionDepth(t *testing.T) {
	for q, want := range map[string]int{
		"{ a }":                                1,
		"{ a { b { c } } d }":                  3,
		"{ ...F } fragment F on Q { a { b } }": 2,
		"{ a { ... on X { b { c { d } } } } }": 4,
	} {
		doc, err := parser.ParseQuery(&ast.Source{Input: q})
		if err != nil {
			t.Fatal(err)
		}
		if got := selectionDepth(doc.Operations[0].SelectionSet, 0, map[string]bool{}, doc); got != want {
			t.Errorf("%s: depth %d, want %d", q, got, want)
		}
	}
}
