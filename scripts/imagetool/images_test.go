package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/mgmtplane/mgmtplane/scripts/imagetool/ociimage"
)

const root = "../.."

// TestImagesMatchTheManifests builds every image the way `make images` does, reads each back from its
// layout as a registry would, and holds it to deploy/: every image a Deployment names is built, runs its
// app's static binary as a non-root user, exposes exactly the Deployment's containerPorts, and is listed in
// the kustomization; then it builds them all again and expects the same digests.
func TestImagesMatchTheManifests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every app twice (-short skips it)")
	}
	// A first build compiles every dependency with -trimpath (minutes on two cores): say so rather than let
	// go test's -timeout panic in the middle of it.
	ctx := context.Background()
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-15*time.Second))
		defer cancel()
	}
	out := t.TempDir()
	built, err := build(ctx, options{root: root, out: out, arch: "amd64", apps: apps, registry: "registry.example.com/team"})
	if err != nil && ctx.Err() != nil {
		t.Fatalf("the images were not built before go test's -timeout; a first build is slow, give it a longer -timeout: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	images := map[string]builtImage{}
	for _, b := range built {
		images["mgmtplane/"+b.app] = b
	}

	deployments := deployments(t)
	kustomized := kustomizationImages(t, filepath.Join(root, "deploy", "kustomization.yaml"))
	used := map[string]bool{}
	for file, d := range deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			name, tag, _ := strings.Cut(c.Image, ":")
			app, ok := strings.CutPrefix(name, "mgmtplane/")
			if !ok {
				continue // not ours (none today)
			}
			used[name] = true
			b, ok := images[name]
			if !ok {
				t.Errorf("%s: %s runs image %s, which make images does not build (add it to apps in main.go)", file, d.Name, name)
				continue
			}
			if tag != "" {
				t.Errorf("%s: image %s has tag %s in the manifest; the kustomization sets it", file, c.Image, tag)
			}
			if d.Name != "runtime-agent" && !slices.Contains(kustomized, name) {
				t.Errorf("deploy/kustomization.yaml does not name %s", name)
			}
			checkImage(t, b, app, c.Ports)
		}
	}
	for name := range images {
		if !used[name] {
			t.Errorf("make images builds %s, which no Deployment in deploy/ runs", name)
		}
	}
	checkOverlay(t, out, built)

	// The same source gives the same digests. A commit landing meanwhile changes the version (and rightly
	// the digests): then compare the next two builds that share one.
	prev := built
	for attempt := 1; ; attempt++ {
		again, err := build(ctx, options{root: root, out: t.TempDir(), arch: "amd64", apps: apps})
		if err != nil {
			t.Fatal(err)
		}
		if again[0].tag != prev[0].tag {
			if attempt == 3 {
				t.Fatalf("HEAD moved during every build (last %s, then %s)", prev[0].tag, again[0].tag)
			}
			t.Logf("HEAD moved between two builds (%s, then %s): building again", prev[0].tag, again[0].tag)
			prev = again
			continue
		}
		for i, b := range again {
			if b.digest != prev[i].digest {
				t.Errorf("%s: built twice from the same source (%s), digests %s and %s", b.app, b.tag, prev[i].digest, b.digest)
			}
		}
		return
	}
}

func checkImage(t *testing.T, b builtImage, appName string, ports []corev1.ContainerPort) {
	t.Helper()
	l, err := ociimage.ReadLayout(b.dir, b.tag)
	if err != nil {
		t.Fatalf("%s: %v", appName, err)
	}
	c := l.Config.Config

	uid, gid, _ := strings.Cut(c.User, ":")
	if u, err := strconv.Atoi(uid); err != nil || u == 0 {
		t.Errorf("%s: user %q is not a numeric non-root uid", appName, c.User)
	}
	if g, err := strconv.Atoi(gid); err != nil || g == 0 {
		t.Errorf("%s: user %q has no numeric non-root gid", appName, c.User)
	}

	var want, got []string
	for _, p := range ports {
		proto := string(p.Protocol)
		if proto == "" {
			proto = "TCP"
		}
		want = append(want, strconv.Itoa(int(p.ContainerPort))+"/"+strings.ToLower(proto))
	}
	for p := range c.ExposedPorts {
		got = append(got, p)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("%s: exposes %v, the Deployment's containerPorts are %v", appName, got, want)
	}

	// The entrypoint is the appName's own binary: static, built from apps/<appName>, stamped with the version the
	// labels and the tag carry.
	if len(c.Entrypoint) != 1 {
		t.Fatalf("%s: entrypoint %v", appName, c.Entrypoint)
	}
	exe, ok := l.Files[c.Entrypoint[0]]
	if !ok || exe.Mode.Perm() != 0o755 || !exe.Mode.IsRegular() {
		t.Fatalf("%s: entrypoint %s is not an executable file in the image (%v)", appName, c.Entrypoint[0], exe.Mode)
	}
	bi, err := buildinfo.Read(bytes.NewReader(exe.Data))
	if err != nil {
		t.Fatalf("%s: entrypoint: %v", appName, err)
	}
	if bi.Path != "github.com/mgmtplane/mgmtplane/apps/"+appName {
		t.Errorf("%s: entrypoint %s is %s", appName, c.Entrypoint[0], bi.Path)
	}
	for _, s := range []string{"CGO_ENABLED=0", "-trimpath=true", "GOOS=linux"} {
		if !slices.ContainsFunc(bi.Settings, func(kv debug.BuildSetting) bool { return kv.Key+"="+kv.Value == s }) {
			t.Errorf("%s: binary built without %s: %v", appName, s, bi.Settings)
		}
	}
	ef, err := elf.NewFile(bytes.NewReader(exe.Data))
	if err != nil {
		t.Fatalf("%s: %v", appName, err)
	}
	libs, _ := ef.ImportedLibraries()
	if slices.ContainsFunc(ef.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP }) || len(libs) > 0 {
		t.Errorf("%s: binary is dynamically linked (%v); FROM scratch it would not start", appName, libs)
	}
	labels := c.Labels
	if labels["org.opencontainers.image.version"] != bi.Main.Version || b.tag != strings.ReplaceAll(bi.Main.Version, "+", "-") {
		t.Errorf("%s: version label %q and tag %q, the binary says %q", appName, labels["org.opencontainers.image.version"], b.tag, bi.Main.Version)
	}
	if labels["org.opencontainers.image.revision"] == "" || labels["org.opencontainers.image.source"] != "https://github.com/mgmtplane/mgmtplane" {
		t.Errorf("%s: labels %v", appName, labels)
	}

	tmp := l.Files["/tmp"]
	if !tmp.Mode.IsDir() || tmp.Mode.Perm() != 0o777 || tmp.Mode&os.ModeSticky == 0 {
		t.Errorf("%s: /tmp is %v, want a sticky world-writable directory", appName, tmp.Mode)
	}
	i := slices.IndexFunc(apps, func(a app) bool { return a.name == appName })
	if _, has := l.Files[caBundle]; has != apps[i].caCerts {
		t.Errorf("%s: CA bundle in the image %v, wanted %v", appName, has, apps[i].caCerts)
	}

	// The SBOM attached to this image describes this very binary.
	var sbom struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name      string `json:"name"`
			Checksums []struct {
				ChecksumValue string `json:"checksumValue"`
			} `json:"checksums"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(l.SBOM, &sbom); err != nil {
		t.Fatalf("%s: SBOM: %v", appName, err)
	}
	sum := sha256.Sum256(exe.Data)
	if sbom.SPDXVersion != "SPDX-2.3" || len(sbom.Packages) < 3 || sbom.Packages[0].Name != bi.Path ||
		len(sbom.Packages[0].Checksums) != 1 || sbom.Packages[0].Checksums[0].ChecksumValue != hex.EncodeToString(sum[:]) {
		t.Errorf("%s: SBOM does not describe the image's binary: %.300s", appName, l.SBOM)
	}
	if len(sbom.Packages) != len(bi.Deps)+2 {
		t.Errorf("%s: SBOM lists %d packages, the binary has %d modules", appName, len(sbom.Packages), len(bi.Deps))
	}
}

// checkOverlay: out/kustomization.yaml is deploy/ with the plane's images at this build's tag.
func checkOverlay(t *testing.T, out string, built []builtImage) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Resources  []string       `json:"resources"`
		Images     []overlayImage `json:"images"`
	}
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		t.Fatalf("%v:\n%s", err, data)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("overlay is a %s %s", k.APIVersion, k.Kind)
	}
	if len(k.Resources) != 1 {
		t.Fatalf("overlay resources %v", k.Resources)
	}
	if abs, _ := filepath.Abs(filepath.Join(out, k.Resources[0])); abs != mustAbs(t, filepath.Join(root, "deploy")) {
		t.Errorf("overlay's resource %s is not deploy/", k.Resources[0])
	}
	for _, b := range built {
		i := slices.IndexFunc(k.Images, func(i overlayImage) bool { return i.Name == "mgmtplane/"+b.app })
		switch {
		case b.app == "runtime-agent":
			if i >= 0 {
				t.Error("the overlay names the runtime agent, which deploy/ does not deploy")
			}
		case i < 0:
			t.Errorf("the overlay does not name %s", b.app)
		case k.Images[i].NewTag != b.tag || k.Images[i].NewName != "registry.example.com/team/mgmtplane/"+b.app:
			t.Errorf("the overlay sets %s to %s:%s", b.app, k.Images[i].NewName, k.Images[i].NewTag)
		}
	}
	v, err := os.ReadFile(filepath.Join(out, "VERSION"))
	if err != nil || strings.TrimSpace(string(v)) != built[0].tag {
		t.Errorf("VERSION %q, %v", v, err)
	}
}

type overlayImage struct {
	Name    string `json:"name"`
	NewName string `json:"newName"`
	NewTag  string `json:"newTag"`
}

func mustAbs(t *testing.T, p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// deployments reads every Deployment in deploy/*.yaml, by file.
func deployments(t *testing.T) map[string]*appsv1.Deployment {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "deploy", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	out := map[string]*appsv1.Deployment{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range bytes.Split(data, []byte("\n---")) {
			var head struct{ Kind string }
			if err := yaml.Unmarshal(doc, &head); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if head.Kind != "Deployment" {
				continue
			}
			var d appsv1.Deployment
			if err := yaml.Unmarshal(doc, &d); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out[filepath.Base(f)+" "+d.Name] = &d
		}
	}
	if len(out) == 0 {
		t.Fatal("no Deployment in deploy/")
	}
	return out
}

func kustomizationImages(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Images []struct{ Name string } `json:"images"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range k.Images {
		names = append(names, i.Name)
	}
	return names
}
