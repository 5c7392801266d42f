package local

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A crash between starting a process and writing its pid file must not make the stage start a second one:
// the backend finds the process by its program and its working folder.
func TestRunningFindsAProcessWithoutItsPidFile(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep on PATH")
	}
	if sleep, err = filepath.EvalSymlinks(sleep); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	dir := filepath.Join(root, "rt-1")
	if err := os.MkdirAll(filepath.Join(dir, "pids"), 0o700); err != nil {
		t.Fatal(err)
	}
	b := New(Config{Root: root, Daprd: sleep, StopGrace: time.Second})
	if b.running(dir, "daprd") {
		t.Fatal("running before anything started")
	}
	cmd := exec.Command(sleep, "30")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	if !b.running(dir, "daprd") {
		t.Fatal("the process without a pid file was not found")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "pids", "daprd.pid"))
	if err != nil || !strings.HasPrefix(string(raw), strconv.Itoa(cmd.Process.Pid)+" ") {
		t.Fatalf("pid file %q, %v", raw, err)
	}
	// A process of another program in the folder is not it, nor is the same program elsewhere.
	if b.running(dir, "agent") {
		t.Fatal("took the sleep for the agent")
	}
	b.stop(dir, "daprd")
	_ = cmd.Wait()
	if b.running(dir, "daprd") || syscall.Kill(cmd.Process.Pid, 0) == nil {
		t.Fatal("still running after stop")
	}
}
