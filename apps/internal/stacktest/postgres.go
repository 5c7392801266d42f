package stacktest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// postgresVariant is the Registry component on PostgreSQL, kept out of components/ proper because daprd would
// load it next to the default one.
const postgresVariant = "components/variants/registry-postgres.yaml"

// Registries lists the values of Options.Registry: the state stores the Registry is tested on.
var Registries = []string{"sqlite", "redis", "postgres"}

// startPostgres runs a PostgreSQL cluster of the stack's own, made in the stack folder on a free port by
// scripts/postgres.sh (the script make run uses), so that every stack starts from an empty Registry and no
// two runs see each other's data. It runs in the foreground under the stack, so it ends with the stack, and
// with the test process if that is killed.
func (s *Stack) startPostgres(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(s.root, postgresVariant)); err != nil {
		return fmt.Errorf("the postgres registry component: %w", err)
	}
	port, err := FreePort()
	if err != nil {
		return err
	}
	// Under root the cluster belongs to a system user (PostgreSQL refuses root), which must be able to pass
	// through the stack folder that MkdirTemp made private to its owner.
	if err := os.Chmod(s.Dir, 0o711); err != nil {
		return err
	}
	env := map[string]string{"MP_DATA_DIR": s.Dir, "MP_POSTGRES_PORT": strconv.Itoa(port)}
	script := filepath.Join(s.root, "scripts", "postgres.sh")
	if err := s.spawn(ctx, "postgres", s.Dir, env, script, "run"); err != nil {
		return err
	}
	s.PostgresDSN = fmt.Sprintf("host=127.0.0.1 port=%d user=mgmtplane dbname=registry sslmode=disable", port)
	// initdb runs first: seconds on a loaded machine.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		status := exec.CommandContext(ctx, script, "status")
		status.Env = append(os.Environ(), "MP_DATA_DIR="+s.Dir, "MP_POSTGRES_PORT="+strconv.Itoa(port))
		if status.Run() == nil {
			return nil
		}
		if _, alive := s.Running("postgres"); !alive {
			return errors.New("postgres exited before it served:\n" + s.Log("postgres"))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres did not serve on port %d: %w\n%s", port, ctx.Err(), s.Log("postgres"))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// postgresRegistry returns the Registry component on the stack's PostgreSQL.
func (s *Stack) postgresRegistry() (map[string]any, error) {
	doc, err := readYAML(filepath.Join(s.root, postgresVariant))
	if err != nil {
		return nil, err
	}
	spec, _ := dig(doc, "spec").(map[string]any)
	if _, ok := metadata(spec, "connectionString"); !ok {
		return nil, fmt.Errorf("%s: no connectionString", postgresVariant)
	}
	setMetadata(spec, "connectionString", s.PostgresDSN)
	return doc, nil
}
