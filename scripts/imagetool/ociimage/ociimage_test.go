package ociimage

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"
)

var commitTime = time.Date(2026, 12, 1, 22, 10, 5, 0, time.UTC)

func testImage(files []File) Image {
	return Image{
		Name: "mgmtplane/demo", Tag: "v1.2.3",
		Files: files,
		Config: Config{
			Entrypoint: []string{"/usr/local/bin/demo"}, User: "65532:65532", ExposedPorts: []int{3443, 3000},
			Labels: map[string]string{"org.opencontainers.image.version": "v1.2.3"},
			OS:     "linux", Architecture: "amd64", Created: commitTime, CreatedBy: "test",
		},
		SBOM: []byte(`{"spdxVersion":"SPDX-2.3"}`),
	}
}

func demoFiles() []File {
	return []File{
		{Path: "/usr/local/bin/demo", Mode: 0o755, Data: []byte("\x7fELF not really")},
		{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		{Path: "/etc/ssl/certs/ca-certificates.crt", Mode: 0o644, Data: []byte("-----BEGIN CERTIFICATE-----\n")},
	}
}

func TestWriteLayoutReadsBackAsWritten(t *testing.T) {
	dir := t.TempDir()
	desc, err := WriteLayout(dir, testImage(demoFiles()))
	if err != nil {
		t.Fatal(err)
	}
	l, err := ReadLayout(dir, "v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if l.ImageDesc.Digest != desc.Digest || l.ImageDesc.Platform == nil || l.ImageDesc.Platform.OS != "linux" {
		t.Errorf("index entry %+v, want digest %s with its platform", l.ImageDesc, desc.Digest)
	}
	if got := l.ImageDesc.Annotations["io.containerd.image.name"]; got != "mgmtplane/demo:v1.2.3" {
		t.Errorf("containerd name %q", got)
	}
	c := l.Config
	if c.Config.User != "65532:65532" || !slices.Equal(c.Config.Entrypoint, []string{"/usr/local/bin/demo"}) {
		t.Errorf("config %+v", c.Config)
	}
	if len(c.Config.ExposedPorts) != 2 || c.Config.ExposedPorts["3000/tcp"] != struct{}{} || c.Config.ExposedPorts["3443/tcp"] != struct{}{} {
		t.Errorf("exposed ports %v", c.Config.ExposedPorts)
	}
	if c.Created != "2026-12-01T22:10:05Z" || c.OS != "linux" || c.Architecture != "amd64" {
		t.Errorf("created %q os %q arch %q", c.Created, c.OS, c.Architecture)
	}

	// Parents are implied; /tmp keeps its sticky bit; everything has the commit's mtime (checked by untar
	// through ReadLayout's ownership check and below through the raw tar).
	var paths []string
	for p := range l.Files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	want := []string{"/etc", "/etc/ssl", "/etc/ssl/certs", "/etc/ssl/certs/ca-certificates.crt", "/tmp", "/usr", "/usr/local", "/usr/local/bin", "/usr/local/bin/demo"}
	if !slices.Equal(paths, want) {
		t.Errorf("files %v, want %v", paths, want)
	}
	if m := l.Files["/tmp"].Mode; !m.IsDir() || m&fs.ModeSticky == 0 || m.Perm() != 0o777 {
		t.Errorf("/tmp mode %v", m)
	}
	if f := l.Files["/usr/local/bin/demo"]; f.Mode.Perm() != 0o755 || string(f.Data) != "\x7fELF not really" {
		t.Errorf("binary %v %q", f.Mode, f.Data)
	}
	if string(l.SBOM) != `{"spdxVersion":"SPDX-2.3"}` {
		t.Errorf("sbom %q", l.SBOM)
	}
	if l.Index.Manifests[1].ArtifactType != MediaTypeSPDX {
		t.Errorf("index lists the sbom as %+v", l.Index.Manifests[1])
	}
}

// The same input gives the same digest, whatever order the files come in and whenever it is built; a
// changed byte or a changed commit time gives another.
func TestWriteLayoutIsReproducible(t *testing.T) {
	digest := func(img Image) string {
		t.Helper()
		d, err := WriteLayout(t.TempDir(), img)
		if err != nil {
			t.Fatal(err)
		}
		return d.Digest
	}
	first := digest(testImage(demoFiles()))
	reversed := demoFiles()
	slices.Reverse(reversed)
	if again := digest(testImage(reversed)); again != first {
		t.Errorf("same files in another order: %s, then %s", first, again)
	}
	changed := demoFiles()
	changed[0].Data = []byte("\x7fELF other")
	if other := digest(testImage(changed)); other == first {
		t.Error("another binary gave the same digest")
	}
	later := testImage(demoFiles())
	later.Created = commitTime.Add(time.Second)
	if other := digest(later); other == first {
		t.Error("another commit time gave the same digest")
	}

	// The whole layout, not only the manifest: two writes are byte for byte the same folder.
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		if _, err := WriteLayout(dir, testImage(demoFiles())); err != nil {
			t.Fatal(err)
		}
	}
	if sa, sb := tree(t, a), tree(t, b); sa != sb {
		t.Errorf("two layouts differ:\n%s\n%s", sa, sb)
	}
}

func tree(t *testing.T, dir string) string {
	var s strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		s.WriteString(rel + " " + string(data) + "\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return s.String()
}

func TestWriteLayoutRefuses(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "index.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		dir   string
		files []File
	}{
		"a folder with something in it": {full, demoFiles()},
		"a relative path":               {"", []File{{Path: "bin/demo", Mode: 0o755}}},
		"a file as a parent directory":  {"", []File{{Path: "/a", Mode: 0o644}, {Path: "/a/b", Mode: 0o644}}},
		"a path twice":                  {"", []File{{Path: "/a", Mode: 0o644}, {Path: "/a/", Mode: 0o644}}},
	} {
		dir := tc.dir
		if dir == "" {
			dir = t.TempDir()
		}
		if _, err := WriteLayout(dir, testImage(tc.files)); err == nil {
			t.Errorf("%s: written", name)
		}
	}
}

func TestReadLayoutFindsTampering(t *testing.T) {
	dir := t.TempDir()
	desc, err := WriteLayout(dir, testImage(demoFiles()))
	if err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(desc.Digest, "sha256:"))
	data, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	// Any byte changed in a blob must fail its digest.
	if err := os.WriteFile(blob, append(data, ' '), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLayout(dir, "v1.2.3"); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("a changed manifest read back: %v", err)
	}
	if _, err := ReadLayout(dir, "v9"); err == nil {
		t.Error("an unknown tag read back")
	}
}

// The SBOM lists what the binary embeds: the test binary's own module list stands in for an app's.
func TestSPDXFromBuildInfo(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Skip("no build info in the test binary")
	}
	bi.Deps = append(bi.Deps, &debug.Module{Path: "example.com/old", Version: "v1.0.0",
		Replace: &debug.Module{Path: "example.com/new", Version: "v1.1.0+incompatible", Sum: "h1:abc="}})
	data, err := SBOM{Name: "mgmtplane/demo:v1", Binary: bi, BinarySHA: "ab12", Created: commitTime,
		Namespace: "https://example.com/spdx/demo-ab12"}.SPDX()
	if err != nil {
		t.Fatal(err)
	}
	var doc spdxDocument
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.CreationInfo.Created != "2026-12-01T22:10:05Z" || doc.DocumentNamespace == "" {
		t.Errorf("document %+v", doc)
	}
	byName := map[string]spdxPackage{}
	ids := map[string]bool{}
	for _, p := range doc.Packages {
		byName[p.Name] = p
		if ids[p.SPDXID] || notIDChars.MatchString(strings.TrimPrefix(p.SPDXID, "SPDXRef-")) {
			t.Errorf("SPDXID %q repeated or not in SPDX's alphabet", p.SPDXID)
		}
		ids[p.SPDXID] = true
	}
	main := byName[bi.Path]
	if main.Checksums[0].ChecksumValue != "ab12" || main.VersionInfo != bi.Main.Version {
		t.Errorf("main package %+v", main)
	}
	if std := byName["stdlib"]; std.VersionInfo != bi.GoVersion {
		t.Errorf("stdlib %+v", std)
	}
	if _, old := byName["example.com/old"]; old {
		t.Error("a replaced module is listed under its old path")
	}
	if n := byName["example.com/new"]; n.ExternalRefs[0].ReferenceLocator != "pkg:golang/example.com/new@v1.1.0%2Bincompatible" || n.Comment != "go.sum h1:abc=" {
		t.Errorf("replacement %+v", n)
	}
	if len(doc.Packages) != len(bi.Deps)+2 || len(doc.Relationships) != len(doc.Packages) {
		t.Errorf("%d packages and %d relationships for %d modules", len(doc.Packages), len(doc.Relationships), len(bi.Deps))
	}
	if _, err := (SBOM{Name: "x", Binary: &debug.BuildInfo{}}).SPDX(); err == nil {
		t.Error("an SBOM without module information was made")
	}
}
