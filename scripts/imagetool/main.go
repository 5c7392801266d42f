// Command imagetool builds the container image of every app that deploy/ runs, as OCI image layouts, with no
// container daemon and no base image (`make images`). Each image is FROM scratch: the app's static binary
// (CGO_ENABLED=0, -trimpath), a /tmp, and Debian's CA bundle for the apps that call out over TLS; it runs as
// 65532:65532. The version is the one Go stamps into the binary from git (the main module's pseudo-version),
// every timestamp is the commit's, so the same commit gives the same digests. An SPDX SBOM made from the
// binary's embedded module list is attached to each image in its layout.
//
//	go run ./scripts/imagetool [-out bin/images] [-registry REGISTRY] [-arch amd64] [app ...]
//
// It writes -out/<app>/ (one OCI layout per app, tagged with the version), -out/VERSION, and
// -out/kustomization.yaml: deploy/ with its images set to this build's tag (and to REGISTRY, if given).
package main

import (
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mgmtplane/mgmtplane/scripts/imagetool/ociimage"
)

// app is what an image needs to know about its app beyond the binary. The ports are the Deployments'
// containerPorts; images_test.go holds this list to deploy/ so neither drifts.
type app struct {
	name  string
	ports []int
	// caCerts: the app makes TLS connections to servers with public certificates, so it needs root CAs —
	// the gateway fetches the identity provider's JWKS, the Director fetches API specs and calls
	// applications' webhooks and health endpoints, the Runtime Agent reaches the plane's public address, the
	// Provisioner reaches Gardener and the shoots' API servers.
	caCerts bool
}

var apps = []app{
	{name: "broker", ports: []int{3005}},
	{name: "cockpit", ports: []int{3006}},
	{name: "connector", ports: []int{3002}},
	{name: "director", ports: []int{3001}, caCerts: true},
	{name: "gateway", ports: []int{3000, 3443}, caCerts: true},
	{name: "governor", ports: []int{3003}},
	{name: "provisioner", ports: []int{3004}, caCerts: true},
	{name: "runtime-agent", caCerts: true},
}

const (
	// user is the non-root uid:gid the apps run as (distroless's "nonroot"), numeric so no /etc/passwd is needed.
	user = "65532:65532"
	// caBundle is Debian's bundle (package ca-certificates) on the building machine; Go's crypto/x509 reads
	// the same path at run time.
	caBundle = "/etc/ssl/certs/ca-certificates.crt"
	binDir   = "/usr/local/bin"
	// ldflags: -s -w drop the symbol table and DWARF (a third of the size); the module list that the SBOM
	// and version come from is kept, it lives in its own section.
	ldflags = "-s -w"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, log, os.Args[1:]); err != nil {
		log.Error("imagetool", "err", err)
		os.Exit(1)
	}
}

type options struct {
	root     string // the repository
	out      string
	registry string // prefix of the pushed names in the kustomization, e.g. registry.example.com/team
	arch     string
	apps     []app
}

func run(ctx context.Context, log *slog.Logger, args []string) error {
	fl := flag.NewFlagSet("imagetool", flag.ContinueOnError)
	var o options
	fl.StringVar(&o.root, "C", ".", "the repository's root")
	fl.StringVar(&o.out, "out", "bin/images", "where to write the layouts, VERSION and kustomization.yaml")
	fl.StringVar(&o.registry, "registry", "", "registry prefix for the kustomization's newName (the images stay mgmtplane/<app> without it)")
	fl.StringVar(&o.arch, "arch", "amd64", "GOARCH of the images (GOOS is linux)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	o.apps = apps
	if fl.NArg() > 0 {
		o.apps = nil
		for _, name := range fl.Args() {
			i := slices.IndexFunc(apps, func(a app) bool { return a.name == name })
			if i < 0 {
				return fmt.Errorf("no image for %q (there are: %s)", name, names(apps))
			}
			o.apps = append(o.apps, apps[i])
		}
	}
	start := time.Now()
	built, err := build(ctx, o)
	if err != nil {
		return err
	}
	for _, b := range built {
		log.Info("image", "name", b.ref, "digest", b.digest, "size", b.size, "layout", b.dir)
	}
	log.Info("images built", "version", built[0].tag, "out", o.out, "took", time.Since(start).Round(time.Second))
	return nil
}

type builtImage struct {
	app          string
	ref, tag     string
	digest, dir  string
	size         int64 // the compressed layer, what a registry stores and a node pulls
	binaryModule string
}

// build compiles the apps in one go build (so they share the work) and writes their layouts.
func build(ctx context.Context, o options) ([]builtImage, error) {
	binaries, err := os.MkdirTemp("", "imagetool-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(binaries)
	// -buildvcs=true overrides a GOFLAGS=-buildvcs=false (this kind of machine sets it in go env): the
	// version and revision come from git.
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=true", "-ldflags="+ldflags, "-o", binaries+string(filepath.Separator))
	for _, a := range o.apps {
		cmd.Args = append(cmd.Args, "./apps/"+a.name)
	}
	cmd.Dir = o.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build: %w", err)
	}

	var ca []byte
	if slices.ContainsFunc(o.apps, func(a app) bool { return a.caCerts }) {
		if ca, err = os.ReadFile(caBundle); err != nil {
			return nil, fmt.Errorf("CA certificates for the images (Debian: apt-get install ca-certificates): %w", err)
		}
	}
	var built []builtImage
	for _, a := range o.apps {
		b, err := image(o, a, filepath.Join(binaries, a.name), ca)
		if err != nil {
			return nil, err
		}
		built = append(built, b)
	}
	for _, b := range built[1:] {
		if b.tag != built[0].tag {
			return nil, fmt.Errorf("apps built at different versions: %s %s, %s %s", built[0].app, built[0].tag, b.app, b.tag)
		}
	}
	if err := writeKustomization(o, built); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.out, "VERSION"), []byte(built[0].tag+"\n"), 0o644); err != nil {
		return nil, err
	}
	return built, nil
}

// image writes one app's layout, replacing what an earlier build left there.
func image(o options, a app, binary string, ca []byte) (builtImage, error) {
	exe, err := os.ReadFile(binary)
	if err != nil {
		return builtImage{}, err
	}
	bi, err := buildinfo.ReadFile(binary)
	if err != nil {
		return builtImage{}, fmt.Errorf("%s: build info: %w", a.name, err)
	}
	v, err := versionOf(bi)
	if err != nil {
		return builtImage{}, fmt.Errorf("%s: %w", a.name, err)
	}
	name := "mgmtplane/" + a.name
	sum := sha256.Sum256(exe)
	sbom, err := ociimage.SBOM{
		Name: name + ":" + v.tag, Binary: bi, BinarySHA: hex.EncodeToString(sum[:]), Created: v.created,
		Namespace: v.source + "/spdx/" + a.name + "-" + v.tag + "-" + hex.EncodeToString(sum[:8]),
	}.SPDX()
	if err != nil {
		return builtImage{}, err
	}
	entry := binDir + "/" + a.name
	files := []ociimage.File{
		{Path: entry, Mode: 0o755, Data: exe},
		{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
	}
	if a.caCerts {
		files = append(files, ociimage.File{Path: caBundle, Mode: 0o644, Data: ca})
	}
	img := ociimage.Image{
		Name: name, Tag: v.tag, Files: files, SBOM: sbom,
		Config: ociimage.Config{
			Entrypoint: []string{entry}, User: user, ExposedPorts: a.ports,
			Env:        []string{"PATH=" + binDir},
			WorkingDir: "/",
			Labels: map[string]string{
				"org.opencontainers.image.title":    name,
				"org.opencontainers.image.version":  v.version,
				"org.opencontainers.image.revision": v.revision,
				"org.opencontainers.image.source":   v.source,
				"org.opencontainers.image.created":  v.created.Format(time.RFC3339),
			},
			OS: "linux", Architecture: o.arch, Created: v.created,
			CreatedBy: "mgmtplane imagetool: go build -trimpath -ldflags=\"" + ldflags + "\" ./apps/" + a.name + " (" + bi.GoVersion + ")",
		},
	}
	dir := filepath.Join(o.out, a.name)
	if err := os.RemoveAll(dir); err != nil {
		return builtImage{}, err
	}
	desc, err := ociimage.WriteLayout(dir, img)
	if err != nil {
		return builtImage{}, err
	}
	l, err := ociimage.ReadLayout(dir, v.tag)
	if err != nil {
		return builtImage{}, fmt.Errorf("reading back what was written: %w", err)
	}
	return builtImage{app: a.name, ref: name + ":" + v.tag, tag: v.tag, digest: desc.Digest, dir: dir,
		size: l.Manifest.Layers[0].Size, binaryModule: bi.Path}, nil
}

type version struct {
	version  string // as Go stamped it: v0.0.0-20261202012415-fe30aa8abcde, +dirty for uncommitted changes
	tag      string // the same, fit for an image tag
	revision string
	source   string
	created  time.Time
}

// versionOf reads the version Go stamped into the binary from git. Timestamps are SOURCE_DATE_EPOCH when
// set (the reproducible-builds convention), else the commit time.
func versionOf(bi *debug.BuildInfo) (version, error) {
	v := version{version: bi.Main.Version, source: "https://" + bi.Main.Path}
	var vcsTime string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.revision = s.Value
		case "vcs.time":
			vcsTime = s.Value
		}
	}
	if v.version == "" || v.version == "(devel)" || v.revision == "" {
		return version{}, errors.New("the binary has no version from git (build inside the git checkout, with -buildvcs not false)")
	}
	// An image tag allows [A-Za-z0-9_.-]: "+dirty" becomes "-dirty".
	v.tag = strings.ReplaceAll(v.version, "+", "-")
	var err error
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		sec, perr := strconv.ParseInt(epoch, 10, 64)
		if perr != nil {
			return version{}, fmt.Errorf("SOURCE_DATE_EPOCH: %w", perr)
		}
		v.created = time.Unix(sec, 0).UTC()
	} else if v.created, err = time.Parse(time.RFC3339, vcsTime); err != nil {
		return version{}, fmt.Errorf("commit time %q: %w", vcsTime, err)
	}
	v.created = v.created.UTC()
	return v, nil
}

// writeKustomization writes an overlay of deploy/ that points its images at this build, so
// `kubectl apply -k <out>` deploys exactly what was built and pushed. The Runtime Agent is applied to
// runtime clusters from its own manifest, so it has no line here.
func writeKustomization(o options, built []builtImage) error {
	out, err := filepath.Abs(o.out)
	if err != nil {
		return err
	}
	deploy, err := filepath.Abs(filepath.Join(o.root, "deploy"))
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(out, deploy)
	if err != nil {
		return err
	}
	var s strings.Builder
	fmt.Fprintf(&s, "# Written by make images: deploy/ with the images of version %s.\n", built[0].tag)
	s.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n")
	fmt.Fprintf(&s, "resources:\n  - %s\nimages:\n", filepath.ToSlash(rel))
	for _, b := range built {
		if b.app == "runtime-agent" {
			continue
		}
		fmt.Fprintf(&s, "  - name: mgmtplane/%s\n", b.app)
		if o.registry != "" {
			fmt.Fprintf(&s, "    newName: %s/mgmtplane/%s\n", strings.TrimSuffix(o.registry, "/"), b.app)
		}
		fmt.Fprintf(&s, "    newTag: %s\n", b.tag)
	}
	return os.WriteFile(filepath.Join(o.out, "kustomization.yaml"), []byte(s.String()), 0o644)
}

func names(as []app) string {
	var s []string
	for _, a := range as {
		s = append(s, a.name)
	}
	return strings.Join(s, ", ")
}
