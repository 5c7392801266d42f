// Package connectorclient is the client side of the Connector: it trades a one-time token for a client
// certificate (Pair), renews that certificate with itself (Renew) and keeps the result on disk (Save,
// Load). The Runtime Agent uses it; so can any Go application.
//
// The flow follows Compass's Connector API: `configuration` with the one-time token returns the subject to
// request and a second token; a fresh key and a CSR for that subject go to `signCertificateSigningRequest`
// with the second token; the answer is the client certificate and the CA. Renewal runs the same two calls
// over mutual TLS with the current certificate instead of tokens.
package connectorclient

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/gqlclient"
)

// TokenHeader is the header that carries a one-time token to the gateway.
const TokenHeader = "Connector-Token"

// Credentials are a client certificate with its key and the CA that issued it.
type Credentials struct {
	KeyPEM       []byte // PKCS#8 private key
	CertChainPEM []byte // the client certificate, then the CA
	CACertPEM    []byte
	// Who the certificate is for, as its subject says (CN, OU, O).
	Tenant, ConsumerID, ConsumerType string
	NotAfter                         time.Time
}

// Error is an error the Connector answered with; Code is its extensions.code (UNAUTHENTICATED for an
// invalid, used or expired token, FORBIDDEN for a revoked certificate, ...).
type Error = gqlclient.Error

// Client talks to the Connector API through the gateway.
type Client struct {
	url  string
	http *http.Client
}

// New returns a client for the Connector at connectorURL (the gateway's /connector/graphql, as the
// Director's one-time token response names it). A nil httpClient means one with a 30 s timeout.
func New(connectorURL string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{url: connectorURL, http: httpClient}
}

const (
	configurationQuery = `query { configuration { token { token } certificateSigningRequestInfo { subject keyAlgorithm } managementPlaneInfo { directorURL certificateSecuredConnectorURL } } }`
	signMutation       = `mutation ($csr: String!) { signCertificateSigningRequest(csr: $csr) { certificateChain caCertificate clientCertificate } }`
)

type configuration struct {
	Configuration struct {
		Token *struct {
			Token string `json:"token"`
		} `json:"token"`
		CSRInfo *struct {
			Subject      string `json:"subject"`
			KeyAlgorithm string `json:"keyAlgorithm"`
		} `json:"certificateSigningRequestInfo"`
	} `json:"configuration"`
}

type signed struct {
	Sign struct {
		CertificateChain  string `json:"certificateChain"`
		CACertificate     string `json:"caCertificate"`
		ClientCertificate string `json:"clientCertificate"`
	} `json:"signCertificateSigningRequest"`
}

// Pair trades a one-time token for credentials: configuration (which uses up token), a new key and a CSR
// for the subject it names, then signCertificateSigningRequest with the token configuration returned.
func (c *Client) Pair(ctx context.Context, token string) (*Credentials, error) {
	if token == "" {
		return nil, errors.New("pair: empty one-time token")
	}
	var conf configuration
	if err := graphql(ctx, c.http, c.url, token, configurationQuery, nil, &conf); err != nil {
		return nil, fmt.Errorf("pair: configuration: %w", err)
	}
	if conf.Configuration.Token == nil || conf.Configuration.Token.Token == "" {
		return nil, errors.New("pair: configuration returned no token for the CSR")
	}
	cred, err := c.certify(ctx, c.http, c.url, conf.Configuration.Token.Token, conf)
	if err != nil {
		return nil, fmt.Errorf("pair: %w", err)
	}
	return cred, nil
}

// Renew gets a new certificate for a new key over mutual TLS with the current credentials, at secureURL
// (the gateway's TLS /connector/graphql). The server is verified against the Connector's CA, unless the
// client's transport names its own RootCAs (for a gateway whose server certificate another CA issued).
// The current certificate stays valid until it expires or is revoked.
func (c *Client) Renew(ctx context.Context, secureURL string, cred *Credentials) (*Credentials, error) {
	cfg, err := cred.TLSConfig()
	if err != nil {
		return nil, fmt.Errorf("renew: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if base, ok := c.http.Transport.(*http.Transport); ok {
		tr = base.Clone()
		if base.TLSClientConfig != nil && base.TLSClientConfig.RootCAs != nil {
			cfg.RootCAs = base.TLSClientConfig.RootCAs
		}
	}
	tr.TLSClientConfig = cfg
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: c.http.Timeout, CheckRedirect: c.http.CheckRedirect}

	var conf configuration
	if err := graphql(ctx, hc, secureURL, "", configurationQuery, nil, &conf); err != nil {
		return nil, fmt.Errorf("renew: configuration: %w", err)
	}
	next, err := c.certify(ctx, hc, secureURL, "", conf)
	if err != nil {
		return nil, fmt.Errorf("renew: %w", err)
	}
	return next, nil
}

// certify creates a key and a CSR for the subject conf names and has the Connector sign it.
func (c *Client) certify(ctx context.Context, hc *http.Client, url, token string, conf configuration) (*Credentials, error) {
	info := conf.Configuration.CSRInfo
	if info == nil || info.Subject == "" {
		return nil, errors.New("configuration returned no subject")
	}
	subject, err := parseSubject(info.Subject)
	if err != nil {
		return nil, err
	}
	key, err := newKey(info.KeyAlgorithm)
	if err != nil {
		return nil, err
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject}, key)
	if err != nil {
		return nil, fmt.Errorf("create csr: %w", err)
	}
	csr := base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}))

	var res signed
	if err := graphql(ctx, hc, url, token, signMutation, map[string]any{"csr": csr}, &res); err != nil {
		return nil, fmt.Errorf("sign csr: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	cred := &Credentials{KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})}
	if cred.CertChainPEM, err = base64.StdEncoding.DecodeString(res.Sign.CertificateChain); err != nil {
		return nil, fmt.Errorf("certificate chain: %w", err)
	}
	if cred.CACertPEM, err = base64.StdEncoding.DecodeString(res.Sign.CACertificate); err != nil {
		return nil, fmt.Errorf("ca certificate: %w", err)
	}
	if err := cred.check(); err != nil {
		return nil, fmt.Errorf("signed certificate: %w", err)
	}
	return cred, nil
}

// newKey generates a key of the type the Connector asks for; ECDSA P-256 unless it asks for RSA.
func newKey(algorithm string) (crypto.Signer, error) {
	switch strings.ToLower(algorithm) {
	case "rsa2048", "rsa":
		return rsa.GenerateKey(rand.Reader, 2048)
	default:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
}

// parseSubject reads a subject as the Connector writes it, such as "CN=app,OU=APPLICATION,O=acme". The
// Connector's subjects never need escaping, so escapes and multi-valued attributes are refused.
func parseSubject(s string) (pkix.Name, error) {
	var n pkix.Name
	if strings.ContainsAny(s, `\+"`) {
		return n, fmt.Errorf("subject %q: escaped or multi-valued attributes are not supported", s)
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || v == "" {
			return n, fmt.Errorf("subject %q: %q is not TYPE=value", s, part)
		}
		switch strings.ToUpper(strings.TrimSpace(k)) {
		case "CN":
			n.CommonName = v
		case "OU":
			n.OrganizationalUnit = append(n.OrganizationalUnit, v)
		case "O":
			n.Organization = append(n.Organization, v)
		case "C":
			n.Country = append(n.Country, v)
		case "L":
			n.Locality = append(n.Locality, v)
		case "ST":
			n.Province = append(n.Province, v)
		default:
			return n, fmt.Errorf("subject %q: unsupported attribute %q", s, k)
		}
	}
	return n, nil
}

// check verifies that the certificate belongs to the key and chains to the CA for client authentication,
// and fills in who it is for and until when. Time is not checked (the chain is verified as of the
// certificate's start): callers compare NotAfter themselves, to renew in time or pair again.
func (c *Credentials) check() error {
	pair, err := tls.X509KeyPair(c.CertChainPEM, c.KeyPEM)
	if err != nil {
		return fmt.Errorf("key and certificate do not match: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(c.CACertPEM) {
		return errors.New("no CA certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, CurrentTime: leaf.NotBefore}
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("does not verify against the CA: %w", err)
	}
	first := func(s []string) string {
		if len(s) == 0 {
			return ""
		}
		return s[0]
	}
	c.Tenant, c.ConsumerID, c.ConsumerType = first(leaf.Subject.Organization), leaf.Subject.CommonName, first(leaf.Subject.OrganizationalUnit)
	c.NotAfter = leaf.NotAfter
	return nil
}

// TLSConfig returns a client TLS configuration that presents the certificate and trusts the CA.
func (c *Credentials) TLSConfig() (*tls.Config, error) {
	pair, err := tls.X509KeyPair(c.CertChainPEM, c.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(c.CACertPEM) {
		return nil, errors.New("client certificate: no CA certificate")
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots, MinVersion: tls.VersionTLS12}, nil
}

// graphql posts one operation and decodes its data into out. A GraphQL error becomes an *Error.
func graphql(ctx context.Context, hc *http.Client, url, token, query string, vars map[string]any, out any) error {
	h := http.Header{}
	if token != "" {
		h.Set(TokenHeader, token)
	}
	return gqlclient.Post(ctx, hc, url, h, 1<<20, query, vars, out)
}
