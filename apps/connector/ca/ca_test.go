package ca_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/connector/ca"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fileStore mimics secretstores.local.file as components/secretstore.yaml configures it: it reads the JSON
// file once (as the sidecar does at start) and flattens nested objects with ":".
type fileStore struct{ secrets map[string]string }

func openFileStore(t *testing.T, path string) *fileStore {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	fs := &fileStore{secrets: map[string]string{}}
	var flatten func(prefix string, v any)
	flatten = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				flatten(prefix+":"+k, x)
			}
		default:
			fs.secrets[prefix[1:]] = fmt.Sprint(v)
		}
	}
	flatten("", doc)
	return fs
}

func (f *fileStore) GetSecret(_ context.Context, store, key string, _ map[string]string) (map[string]string, error) {
	v, ok := f.secrets[key]
	if !ok {
		return nil, fmt.Errorf("failed getting secret with key %s from secret store %s: secret %s not found", key, store, key)
	}
	return map[string]string{key: v}, nil
}

// multiStore is a store whose secrets hold several keys (Kubernetes, local file with multiValued: true).
type multiStore map[string]map[string]string

func (m multiStore) GetSecret(_ context.Context, _, key string, _ map[string]string) (map[string]string, error) {
	if v, ok := m[key]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("secrets %q not found", key)
}

type brokenStore struct{}

func (brokenStore) GetSecret(context.Context, string, string, map[string]string) (map[string]string, error) {
	return nil, errors.New("failed finding secret store with key secretstore")
}

func TestGeneratedCAIsStoredAndLoadedOnTheNextStart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "secrets.json")
	if err := os.WriteFile(path, []byte(`{"other": "keep me", "nested": {"a": "b"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	src := ca.Source{Store: "secretstore", Secret: "connector-ca", Generate: true, SecretsFile: path}

	first, err := ca.Load(ctx, quiet, openFileStore(t, path), src, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("secrets file mode %v, want 0600", st.Mode().Perm())
	}
	fs := openFileStore(t, path)
	if fs.secrets["other"] != "keep me" || fs.secrets["nested:a"] != "b" {
		t.Errorf("other secrets were not kept: %v", fs.secrets)
	}

	// The next start finds it in the secret store and must not generate another.
	src.Generate = false
	second, err := ca.Load(ctx, quiet, fs, src, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.CertPEM(), second.CertPEM()) {
		t.Fatal("the second start loaded a different CA")
	}
	c := second.Certificate()
	if !c.IsCA || c.NotAfter.Sub(c.NotBefore) < 9*365*24*time.Hour {
		t.Fatalf("generated CA: IsCA=%v validity=%v", c.IsCA, c.NotAfter.Sub(c.NotBefore))
	}
}

func TestLoadFromMultiValuedSecret(t *testing.T) {
	cert, key, err := ca.Generate(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	store := multiStore{"connector-ca": {"cert": string(cert), "key": string(key)}}
	a, err := ca.Load(context.Background(), quiet, store, ca.Source{Store: "s", Secret: "connector-ca"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(a.CertPEM()), bytes.TrimSpace(cert)) {
		t.Fatal("loaded a different certificate")
	}
}

func TestLoadRefusesWhenNothingMayBeGenerated(t *testing.T) {
	ctx := context.Background()
	_, err := ca.Load(ctx, quiet, multiStore{}, ca.Source{Store: "s", Secret: "connector-ca"}, time.Now())
	if !errors.Is(err, ca.ErrNoCA) {
		t.Fatalf("err = %v, want ErrNoCA", err)
	}
	// A missing secret store is a configuration error, never a reason to mint a CA.
	path := filepath.Join(t.TempDir(), "secrets.json")
	_, err = ca.Load(ctx, quiet, brokenStore{}, ca.Source{Store: "s", Secret: "connector-ca", Generate: true, SecretsFile: path}, time.Now())
	if err == nil || errors.Is(err, ca.ErrNoCA) {
		t.Fatalf("err = %v, want a store error", err)
	}
	if _, statErr := os.Stat(path); !errors.Is(statErr, os.ErrNotExist) {
		t.Fatal("a secrets file was written although the store failed")
	}
}

func TestNewRefusesMismatchedKey(t *testing.T) {
	cert, _, _ := ca.Generate(time.Now())
	_, otherKey, _ := ca.Generate(time.Now())
	if _, err := ca.New(cert, otherKey); err == nil {
		t.Fatal("a key of another CA was accepted")
	}
}

func TestSignedClientCertificateVerifies(t *testing.T) {
	cert, key, _ := ca.Generate(time.Now())
	a, err := ca.New(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	subject := pkix.Name{CommonName: "app-1", OrganizationalUnit: []string{"APPLICATION"}, Organization: []string{"t1"}}
	now := time.Now()
	leaf, err := a.SignClient(priv.Public(), subject, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: a.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: a.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Fatal("a client certificate verified for server auth")
	}
	if leaf.Subject.String() != "CN=app-1,OU=APPLICATION,O=t1" || leaf.SerialNumber.BitLen() < 64 {
		t.Fatalf("subject %s serial %s", leaf.Subject, leaf.SerialNumber)
	}
}
