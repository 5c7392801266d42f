package gqlserver

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// EmptyArguments is a gqlgen extension that lets a document say `labelDefinitions()`: it blanks every pair
// of empty parentheses before the document is parsed, as Compass's clients need (Compass's parser took
// them; gqlparser, like the GraphQL grammar, refuses an empty argument list).
//
// GraphQL allows parentheses only around arguments and variable definitions, and neither list may be
// empty, so a document the rewrite changes was invalid before and means after it what its author meant.
// Strings, block strings and comments are left alone. The parentheses become spaces, so every position
// the parser reports stays the same.
type EmptyArguments struct{}

func (EmptyArguments) ExtensionName() string                   { return "EmptyArguments" }
func (EmptyArguments) Validate(graphql.ExecutableSchema) error { return nil }

func (EmptyArguments) MutateOperationParameters(_ context.Context, p *graphql.RawParams) *gqlerror.Error {
	p.Query = blankEmptyParens(p.Query)
	return nil
}

// blankEmptyParens returns q with each "(" followed by nothing but ignored tokens (white space, commas,
// comments) and then ")" turned into spaces, outside strings and comments.
func blankEmptyParens(q string) string {
	if !strings.Contains(q, "(") {
		return q
	}
	var b []byte // a copy of q, made at the first change
	for i := 0; i < len(q); {
		switch c := q[i]; {
		case c == '#':
			i = skipComment(q, i)
		case strings.HasPrefix(q[i:], `"""`):
			i = skipBlockString(q, i)
		case c == '"':
			i = skipString(q, i)
		case c == '(':
			j := skipIgnored(q, i+1)
			if j < len(q) && q[j] == ')' {
				if b == nil {
					b = []byte(q)
				}
				b[i], b[j] = ' ', ' '
				i = j + 1
				continue
			}
			i++
		default:
			i++
		}
	}
	if b == nil {
		return q
	}
	return string(b)
}

// skipIgnored returns the index of the first byte at or after i that is not white space, a comma, a
// line terminator or part of a comment.
func skipIgnored(q string, i int) int {
	for i < len(q) {
		switch q[i] {
		case ' ', '\t', '\n', '\r', ',':
			i++
		case '#':
			i = skipComment(q, i)
		default:
			if strings.HasPrefix(q[i:], "\uFEFF") {
				i += len("\uFEFF")
				continue
			}
			return i
		}
	}
	return i
}

// skipComment returns the index just past the comment starting at i: its line terminator ends it.
func skipComment(q string, i int) int {
	for i < len(q) && q[i] != '\n' && q[i] != '\r' {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at i. A line terminator ends it as the lexer
// does (there the string is unterminated, and the parser reports it).
func skipString(q string, i int) int {
	for i++; i < len(q); i++ {
		switch q[i] {
		case '\\':
			i++ // the escaped character
		case '"':
			return i + 1
		case '\n', '\r':
			return i
		}
	}
	return i
}

// skipBlockString returns the index just past the block string starting at i; `\"""` does not end it.
func skipBlockString(q string, i int) int {
	for i += 3; i < len(q); i++ {
		if strings.HasPrefix(q[i:], `\"""`) {
			i += 3
			continue
		}
		if strings.HasPrefix(q[i:], `"""`) {
			return i + 3
		}
	}
	return i
}
