package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/internal/secret"
)

// fileStore serves a secrets JSON file the way a multi-valued local file secret store does.
type fileStore struct{ path string }

func (f fileStore) GetSecret(_ context.Context, _, key string, _ map[string]string) (map[string]string, error) {
	raw, err := os.ReadFile(f.path)
	if err != nil {
		return nil, fmt.Errorf("secret %s not found", key)
	}
	var doc map[string]map[string]string
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	if v, ok := doc[key]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("secret %s not found", key)
}

func TestGeneratedKeyIsKeptAndLoadedOnTheNextStart(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	path := filepath.Join(t.TempDir(), "secrets.json")
	store := fileStore{path}

	_, err := LoadKey(ctx, quiet, store, KeySource{Store: "s", Secret: "token-key"})
	if !errors.Is(err, secret.ErrNotFound) {
		t.Fatalf("no key and no generating: %v, want ErrNotFound", err)
	}
	first, err := LoadKey(ctx, quiet, store, KeySource{Store: "s", Secret: "token-key", Generate: true, SecretsFile: path})
	if err != nil {
		t.Fatal(err)
	}
	second, err := LoadKey(ctx, quiet, store, KeySource{Store: "s", Secret: "token-key"})
	if err != nil {
		t.Fatal(err)
	}
	if !first.Equal(second) {
		t.Fatal("the next start loaded another key")
	}
	a, _ := publicJWK(first)
	b, _ := publicJWK(second)
	if a.KeyID == "" || a.KeyID != b.KeyID {
		t.Fatalf("key ids %q and %q", a.KeyID, b.KeyID)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("secrets file mode %v", st.Mode().Perm())
	}
}
