package ociimage

import (
	"encoding/json"
	"fmt"
	"regexp"
	"runtime/debug"
	"strings"
	"time"
)

// SPDX document (SPDX 2.3, JSON), with the fields an SBOM of a Go binary needs.
type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
	Comment  string   `json:"comment,omitempty"`
}

type spdxPackage struct {
	Name             string         `json:"name"`
	SPDXID           string         `json:"SPDXID"`
	VersionInfo      string         `json:"versionInfo,omitempty"`
	DownloadLocation string         `json:"downloadLocation"`
	FilesAnalyzed    bool           `json:"filesAnalyzed"`
	Checksums        []spdxChecksum `json:"checksums,omitempty"`
	ExternalRefs     []spdxRef      `json:"externalRefs,omitempty"`
	Comment          string         `json:"comment,omitempty"`
}

type spdxChecksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

type spdxRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

// SBOM describes what is inside a binary.
type SBOM struct {
	Name      string           // the document's name: the image reference
	Binary    *debug.BuildInfo // read from the built file (debug/buildinfo.ReadFile)
	BinarySHA string           // hex sha256 of the binary
	Created   time.Time
	Namespace string // a URI unique to this document, e.g. the source URL plus name and digest
}

// SPDX returns the SPDX 2.3 JSON document of s: the binary's main package (its path, version and sha256),
// the Go standard library it was built with, and every module linked into it, each with its Go purl and
// module checksum. It is made from the module list Go embeds in every binary, so it lists what was linked,
// not what go.mod mentions; and, like the image, it carries no clock of its own (Created is the commit time).
func (s SBOM) SPDX() ([]byte, error) {
	bi := s.Binary
	if bi == nil || bi.Main.Path == "" {
		return nil, fmt.Errorf("sbom %s: the binary carries no module information", s.Name)
	}
	doc := spdxDocument{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name: s.Name, DocumentNamespace: s.Namespace,
		CreationInfo: spdxCreationInfo{
			Created:  s.Created.UTC().Format(time.RFC3339),
			Creators: []string{"Tool: mgmtplane-imagetool"},
			Comment:  "From the module list embedded in " + bi.Path + " (" + bi.GoVersion + "); build settings: " + settings(bi),
		},
	}
	mainID := "SPDXRef-Package-" + spdxID(bi.Path)
	main := spdxPackage{
		Name: bi.Path, SPDXID: mainID, VersionInfo: bi.Main.Version,
		DownloadLocation: "NOASSERTION", FilesAnalyzed: false,
		ExternalRefs: []spdxRef{purl(bi.Path, bi.Main.Version)},
		Comment:      "the executable, in module " + bi.Main.Path,
	}
	if s.BinarySHA != "" {
		main.Checksums = []spdxChecksum{{Algorithm: "SHA256", ChecksumValue: s.BinarySHA}}
	}
	doc.Packages = append(doc.Packages, main)
	doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", mainID})

	std := spdxPackage{
		Name: "stdlib", SPDXID: "SPDXRef-Package-stdlib", VersionInfo: bi.GoVersion,
		DownloadLocation: "https://go.dev/dl/", FilesAnalyzed: false,
		ExternalRefs: []spdxRef{purl("stdlib", bi.GoVersion)},
	}
	doc.Packages = append(doc.Packages, std)
	doc.Relationships = append(doc.Relationships, spdxRelationship{mainID, "DEPENDS_ON", std.SPDXID})

	for i, m := range bi.Deps {
		if m.Replace != nil {
			m = m.Replace
		}
		p := spdxPackage{
			Name: m.Path, SPDXID: fmt.Sprintf("SPDXRef-Package-%d-%s", i, spdxID(m.Path)), VersionInfo: m.Version,
			DownloadLocation: "NOASSERTION", FilesAnalyzed: false,
			ExternalRefs: []spdxRef{purl(m.Path, m.Version)},
		}
		if m.Sum != "" {
			// The go.sum hash (h1:, a SHA-256 over the module's file list); SPDX has no algorithm for it.
			p.Comment = "go.sum " + m.Sum
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{mainID, "DEPENDS_ON", p.SPDXID})
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("sbom %s: %w", s.Name, err)
	}
	return append(out, '\n'), nil
}

var notIDChars = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// spdxID makes a module path fit SPDX's identifier alphabet ([A-Za-z0-9.-]).
func spdxID(s string) string { return notIDChars.ReplaceAllString(s, "-") }

// purl is the package URL of a Go module (purl-spec, type golang), which scanners match advisories with.
func purl(path, version string) spdxRef {
	return spdxRef{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: "pkg:golang/" + path + "@" + strings.ReplaceAll(version, "+", "%2B")}
}

func settings(bi *debug.BuildInfo) string {
	var s []string
	for _, kv := range bi.Settings {
		s = append(s, kv.Key+"="+kv.Value)
	}
	return strings.Join(s, " ")
}
