package connectorclient

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Files in a credentials folder.
const (
	keyFile  = "key.pem"
	certFile = "cert.pem"
	caFile   = "ca.pem"
	metaFile = "meta.json"
)

type meta struct {
	Tenant       string    `json:"tenant"`
	ConsumerID   string    `json:"consumerID"`
	ConsumerType string    `json:"consumerType"`
	NotAfter     time.Time `json:"notAfter"`
}

// Save writes the credentials into dir: key.pem (mode 0600), cert.pem (the chain), ca.pem and meta.json.
// Each file is written to a temporary file and renamed into place, so a reader never sees half a file;
// the key goes last, and Load refuses a key that does not match the certificate, so a crash between
// renames is noticed rather than used.
func (c *Credentials) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save credentials: %w", err)
	}
	m, err := json.MarshalIndent(meta{Tenant: c.Tenant, ConsumerID: c.ConsumerID, ConsumerType: c.ConsumerType, NotAfter: c.NotAfter}, "", "  ")
	if err != nil {
		return fmt.Errorf("save credentials: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{caFile, c.CACertPEM, 0o644},
		{certFile, c.CertChainPEM, 0o644},
		{metaFile, append(m, '\n'), 0o644},
		{keyFile, c.KeyPEM, 0o600},
	} {
		if err := writeAtomic(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return fmt.Errorf("save credentials: %w", err)
		}
	}
	return nil
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	// Set before any byte of a key is written.
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Load reads credentials saved by Save and checks that the key, the certificate and the CA belong
// together. Expired credentials load too (see NotAfter). A folder without credentials gives an error satisfying errors.Is(err, fs.ErrNotExist).
func Load(dir string) (*Credentials, error) {
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("load credentials: %w", err)
		}
		return b, nil
	}
	var (
		c   Credentials
		m   meta
		err error
	)
	if c.KeyPEM, err = read(keyFile); err != nil {
		return nil, err
	}
	if c.CertChainPEM, err = read(certFile); err != nil {
		return nil, err
	}
	if c.CACertPEM, err = read(caFile); err != nil {
		return nil, err
	}
	raw, err := read(metaFile)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("load credentials: %s: %w", metaFile, err)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("load credentials from %s: %w", dir, err)
	}
	// The certificate is the authority on whom it is for; meta.json is for people and tools reading the
	// folder, and a disagreement means the folder was tampered with or half written.
	if m.Tenant != c.Tenant || m.ConsumerID != c.ConsumerID || m.ConsumerType != c.ConsumerType {
		return nil, fmt.Errorf("load credentials from %s: %s does not match the certificate", dir, metaFile)
	}
	return &c, nil
}
