package trust

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"strings"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

// maxCSRLen bounds the base64 text of a CSR; a real one is well under 4 KiB even with a 4096-bit RSA key.
const maxCSRLen = 16 << 10

// RSA keys past this size cost much to check and buy nothing.
const maxRSABits = 8192

var (
	oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidOrgUnit    = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidOrg        = asn1.ObjectIdentifier{2, 5, 4, 10}
)

// parseCSR decodes a CSR (base64 of PEM), checks its signature and key, and checks that it asks for
// exactly the owner's subject. Malformed requests are INVALID_INPUT; a well-formed request for another
// subject is FORBIDDEN.
func parseCSR(encoded string, o Owner) (*x509.CertificateRequest, error) {
	encoded = strings.TrimSpace(encoded)
	if encoded == "" {
		return nil, apperr.Invalid("csr: empty")
	}
	if len(encoded) > maxCSRLen {
		return nil, apperr.Invalid("csr: longer than %d characters", maxCSRLen)
	}
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, apperr.Invalid("csr: not base64 (send base64 of the PEM request)")
	}
	block, _ := pem.Decode(raw)
	if block == nil || (block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST") {
		return nil, apperr.Invalid("csr: no CERTIFICATE REQUEST PEM block")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, apperr.Invalid("csr: %v", err)
	}
	if err := checkKey(csr.PublicKey); err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, apperr.Invalid("csr: signature does not verify: %v", err)
	}
	if err := checkSubject(csr, o); err != nil {
		return nil, err
	}
	return csr, nil
}

func checkKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return apperr.Invalid("csr: ECDSA keys must use P-256, P-384 or P-521")
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < 2048 || n > maxRSABits {
			return apperr.Invalid("csr: RSA keys must have 2048 to %d bits, not %d", maxRSABits, n)
		}
		return nil
	case ed25519.PublicKey:
		return nil
	}
	return apperr.Invalid("csr: unsupported key type; use %s", KeyAlgorithm)
}

// checkSubject compares the requested subject attribute by attribute rather than byte by byte, so that
// any tool's encoding and ordering is accepted, while any missing, extra or repeated attribute is not.
func checkSubject(csr *x509.CertificateRequest, o Owner) error {
	want := map[string]string{
		oidCommonName.String(): o.ConsumerID,
		oidOrgUnit.String():    o.ConsumerType,
		oidOrg.String():        o.Tenant,
	}
	refuse := func() error {
		return apperr.New(apperr.CodeForbidden, "csr subject %q is not the subject assigned to this caller: %q",
			csr.Subject.String(), o.Subject().String())
	}
	if len(csr.Subject.Names) != len(want) {
		return refuse()
	}
	seen := map[string]bool{}
	for _, atv := range csr.Subject.Names {
		k := atv.Type.String()
		v, isString := atv.Value.(string)
		w, wanted := want[k]
		if !isString || !wanted || seen[k] || v != w {
			return refuse()
		}
		seen[k] = true
	}
	return nil
}
