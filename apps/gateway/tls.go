package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/gateway/authn"
)

// clientCAs holds the Connector's CA certificate, which client certificates must chain to. The gateway
// fetches it from the Connector at start and every refresh interval, so a Connector that starts later (or
// a rotated CA) is picked up without a restart.
type clientCAs struct {
	pool atomic.Pointer[x509.CertPool]
}

func (c *clientCAs) refresh(ctx context.Context, log *slog.Logger, inv authn.Invoker, appID string, every time.Duration) {
	for {
		if c.pool.Load() != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
		}
		if err := c.fetch(ctx, inv, appID); err != nil && c.pool.Load() == nil {
			log.Warn("connector CA not available yet; client certificates are refused until it is", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

func (c *clientCAs) fetch(ctx context.Context, inv authn.Invoker, appID string) error {
	resp, err := inv.Do(ctx, appID, http.MethodGet, "ca.pem", nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("connector answered %s", resp.Status)
	}
	pemBytes, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return fmt.Errorf("connector CA is not PEM")
	}
	c.pool.Store(pool)
	return nil
}

// tlsConfig asks for (but does not require) a client certificate and verifies it against the Connector's
// CA; requests without one authenticate otherwise (bearer tokens). Until the CA is known, a client
// certificate fails the handshake, so that the client connects again later instead of keeping a
// connection on which its certificate was never checked.
func (c *clientCAs) tlsConfig(server tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			pool := c.pool.Load()
			if pool == nil {
				pool = x509.NewCertPool()
			}
			return &tls.Config{
				MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"},
				Certificates: []tls.Certificate{server}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool,
			}, nil
		},
	}
}

// serverCertificate loads the TLS listener's certificate, or for local runs creates a self-signed one for
// localhost in the data folder (clients trust it with GATEWAY_CA_FILE=<data>/tls/gateway.crt).
func serverCertificate(certFile, keyFile, dataDir string) (tls.Certificate, error) {
	if certFile != "" {
		return tls.LoadX509KeyPair(certFile, keyFile)
	}
	dir := filepath.Join(dataDir, "tls")
	certFile, keyFile = filepath.Join(dir, "gateway.crt"), filepath.Join(dir, "gateway.key")
	if _, err := os.Stat(certFile); err == nil {
		return tls.LoadX509KeyPair(certFile, keyFile)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "mgmtplane gateway (local)"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(certFile, keyFile)
}
