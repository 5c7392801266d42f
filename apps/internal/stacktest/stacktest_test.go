package stacktest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The default version here and in scripts/env.sh must move together, or tests started without env.sh
// would look for a daprd that scripts/install.sh no longer builds.
func TestDaprVersionMatchesEnv(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile(filepath.Join(root, "scripts", "env.sh"))
	if err != nil {
		t.Fatal(err)
	}
	want := "DAPR_VERSION=${DAPR_VERSION:-" + DaprVersion + "}"
	if !strings.Contains(string(env), want) {
		t.Errorf("scripts/env.sh does not set %s", want)
	}
}
