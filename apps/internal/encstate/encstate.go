// Package encstate lets the registry run on a state store that daprd encrypts (the component's
// primaryEncryptionKey).
//
// daprd (1.16.5, and still 1.18.1) encrypts the values of a state *transaction* after formatting them
// with fmt's %v: a value written as the bytes of `{"a":1}` is stored, encrypted, as the text
// `[123 34 97 34 58 49 125]`, and GetState and GetBulkState hand that text back after decrypting it
// (pkg/api/grpc/grpc.go, ExecuteStateTransaction; plain SaveState is not affected). The registry writes only through
// transactions, so every value it reads back from such a store arrives in that form. Store undoes it on
// the way in: the data stays encrypted at rest, the registry sees what it wrote.
//
// The form is told apart from JSON safely: JSON separates array elements with commas, %v with spaces, and
// the registry never stores an array of a single number. A value that is not in the form passes
// unchanged, so the adapter keeps working once daprd is fixed, and with values written by SaveState.
package encstate

import (
	"context"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Store wraps the Dapr state API of an encrypted store. It implements registry.StateAPI.
type Store struct {
	registry.StateAPI
}

// Wrap returns api with reads repaired.
func Wrap(api registry.StateAPI) *Store { return &Store{StateAPI: api} }

// GetState implements registry.StateAPI.
func (s *Store) GetState(ctx context.Context, storeName, key string, meta map[string]string) (*dapr.StateItem, error) {
	it, err := s.StateAPI.GetState(ctx, storeName, key, meta)
	if err != nil || it == nil {
		return it, err
	}
	it.Value = Decode(it.Value)
	return it, nil
}

// GetBulkState implements registry.StateAPI.
func (s *Store) GetBulkState(ctx context.Context, storeName string, keys []string, meta map[string]string, parallelism int32) ([]*dapr.BulkStateItem, error) {
	items, err := s.StateAPI.GetBulkState(ctx, storeName, keys, meta, parallelism)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if it == nil || it.Error != "" {
			continue
		}
		it.Value = Decode(it.Value)
	}
	return items, nil
}

// Decode returns the bytes that v, in fmt's %v form of a byte slice ("[123 34 97]"), stands for; any
// other value is returned as it is.
func Decode(v []byte) []byte {
	if !isByteList(v) {
		return v
	}
	out := make([]byte, 0, len(v)/3)
	n := 0
	for _, c := range v[1 : len(v)-1] {
		if c == ' ' {
			out = append(out, byte(n))
			n = 0
			continue
		}
		n = n*10 + int(c-'0')
	}
	return append(out, byte(n))
}

// isByteList reports whether v looks like "[d d ... d]": at least two numbers of 0-255 with single spaces
// between them. Requiring two keeps "[5]", which could be JSON, out.
func isByteList(v []byte) bool {
	if len(v) < 5 || v[0] != '[' || v[len(v)-1] != ']' {
		return false
	}
	numbers, digits, n := 0, 0, 0
	for _, c := range append(v[1:len(v)-1:len(v)-1], ' ') {
		switch {
		case c >= '0' && c <= '9':
			digits++
			n = n*10 + int(c-'0')
			if digits > 3 || n > 255 {
				return false
			}
		case c == ' ' && digits > 0:
			numbers++
			digits, n = 0, 0
		default:
			return false
		}
	}
	return numbers >= 2
}
