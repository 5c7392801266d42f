package ociimage

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// Media types of the OCI image spec (v1.1) that this package writes.
const (
	MediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	MediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaTypeEmpty    = "application/vnd.oci.empty.v1+json"
	MediaTypeSPDX     = "application/spdx+json"

	// AnnotationRefName names a manifest in a layout's index.json: the tag in `skopeo copy oci:DIR:TAG`.
	AnnotationRefName = "org.opencontainers.image.ref.name"
	// annotationImageName is what containerd's `ctr images import` names the image after.
	annotationImageName = "io.containerd.image.name"
	annotationCreated   = "org.opencontainers.image.created"
)

// Config is what a runtime reads from the image to start its process.
type Config struct {
	Entrypoint   []string
	User         string // uid:gid, numeric so the runtime needs no /etc/passwd to resolve it
	ExposedPorts []int  // TCP
	Env          []string
	WorkingDir   string
	Labels       map[string]string
	OS           string
	Architecture string
	Created      time.Time // also every file's mtime: set it to the commit time for reproducible builds
	CreatedBy    string    // the history entry, saying what made the layer
}

// Image is one image to write: its single layer, its config and, optionally, an SBOM about it.
type Image struct {
	Name  string // repository, e.g. mgmtplane/gateway
	Tag   string
	Files []File
	Config
	SBOM []byte // an SPDX JSON document; attached as an artifact whose subject is the image
}

// Descriptor points at a blob (OCI image spec, descriptor.md).
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Data         []byte            `json:"data,omitempty"`
	Platform     *Platform         `json:"platform,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// Platform is the image's os and architecture, in the index so tools pick it without reading the config.
type Platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// Manifest is an image manifest or, with ArtifactType and Subject, an artifact about another manifest.
type Manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        Descriptor        `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Subject       *Descriptor       `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// Index is a layout's index.json.
type Index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []Descriptor `json:"manifests"`
}

// ImageConfig is the OCI image configuration document (config.md), with the fields this package sets.
type ImageConfig struct {
	Created      string `json:"created,omitempty"`
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		User         string              `json:"User,omitempty"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
		Env          []string            `json:"Env,omitempty"`
		Entrypoint   []string            `json:"Entrypoint,omitempty"`
		WorkingDir   string              `json:"WorkingDir,omitempty"`
		Labels       map[string]string   `json:"Labels,omitempty"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []struct {
		Created   string `json:"created,omitempty"`
		CreatedBy string `json:"created_by,omitempty"`
	} `json:"history,omitempty"`
}

// emptyJSON is the OCI "empty descriptor" content, the config of an artifact that has none.
var emptyJSON = []byte("{}")

// WriteLayout writes img into dir (created; it must be empty or absent) as an OCI image layout: blobs under
// blobs/sha256/, and index.json naming the image by AnnotationRefName = img.Tag. With an SBOM, index.json
// also lists an artifact manifest (artifactType application/spdx+json) whose subject is the image — the OCI
// 1.1 way of attaching an SBOM, so the image's digest does not depend on the SBOM and `oras` copies both.
// It returns the image manifest's descriptor.
func WriteLayout(dir string, img Image) (Descriptor, error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return Descriptor{}, fmt.Errorf("write layout: %s is not empty", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Descriptor{}, fmt.Errorf("write layout: %w", err)
	}
	if img.Tag == "" {
		return Descriptor{}, errors.New("write layout: no tag")
	}
	w := blobWriter{dir: filepath.Join(dir, "blobs", "sha256")}
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return Descriptor{}, fmt.Errorf("write layout: %w", err)
	}

	l, err := buildLayer(img.Files, img.Created)
	if err != nil {
		return Descriptor{}, fmt.Errorf("write layout %s: %w", img.Name, err)
	}
	layerDesc := w.write(MediaTypeLayer, l.gz)
	configDesc := w.writeJSON(MediaTypeConfig, imageConfig(img.Config, l.diffID))
	created := img.Created.UTC().Format(time.RFC3339)
	imageDesc := w.writeJSON(MediaTypeManifest, Manifest{
		SchemaVersion: 2, MediaType: MediaTypeManifest,
		Config: configDesc, Layers: []Descriptor{layerDesc},
		Annotations: map[string]string{annotationCreated: created},
	})
	imageDesc.Platform = &Platform{Architecture: img.Architecture, OS: img.OS}

	indexed := imageDesc
	indexed.Annotations = map[string]string{AnnotationRefName: img.Tag, annotationImageName: img.Name + ":" + img.Tag}
	index := Index{SchemaVersion: 2, MediaType: MediaTypeIndex, Manifests: []Descriptor{indexed}}
	if img.SBOM != nil {
		subject := imageDesc
		subject.Platform = nil
		sbomDesc := w.writeJSON(MediaTypeManifest, Manifest{
			SchemaVersion: 2, MediaType: MediaTypeManifest, ArtifactType: MediaTypeSPDX,
			Config:      w.writeEmpty(),
			Layers:      []Descriptor{w.write(MediaTypeSPDX, img.SBOM)},
			Subject:     &subject,
			Annotations: map[string]string{annotationCreated: created},
		})
		sbomDesc.ArtifactType = MediaTypeSPDX
		index.Manifests = append(index.Manifests, sbomDesc)
	}
	if w.err != nil {
		return Descriptor{}, fmt.Errorf("write layout %s: %w", img.Name, w.err)
	}
	indexJSON, err := json.MarshalIndent(index, "", "  ")
	if err != nil {
		return Descriptor{}, fmt.Errorf("write layout %s: %w", img.Name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), append(indexJSON, '\n'), 0o644); err != nil {
		return Descriptor{}, fmt.Errorf("write layout %s: %w", img.Name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return Descriptor{}, fmt.Errorf("write layout %s: %w", img.Name, err)
	}
	return imageDesc, nil
}

func imageConfig(c Config, diffID string) ImageConfig {
	var ic ImageConfig
	created := c.Created.UTC().Format(time.RFC3339)
	ic.Created, ic.Architecture, ic.OS = created, c.Architecture, c.OS
	ic.Config.User, ic.Config.Env, ic.Config.Entrypoint = c.User, c.Env, c.Entrypoint
	ic.Config.WorkingDir, ic.Config.Labels = c.WorkingDir, c.Labels
	if len(c.ExposedPorts) > 0 {
		ic.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range c.ExposedPorts {
			ic.Config.ExposedPorts[strconv.Itoa(p)+"/tcp"] = struct{}{}
		}
	}
	ic.RootFS.Type, ic.RootFS.DiffIDs = "layers", []string{diffID}
	ic.History = append(ic.History, struct {
		Created   string `json:"created,omitempty"`
		CreatedBy string `json:"created_by,omitempty"`
	}{created, c.CreatedBy})
	return ic
}

// blobWriter stores blobs by digest and keeps the first error, so WriteLayout reads as the documents it makes.
type blobWriter struct {
	dir string
	err error
}

func (w *blobWriter) write(mediaType string, data []byte) Descriptor {
	sum := sha256.Sum256(data)
	d := Descriptor{MediaType: mediaType, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(data))}
	if w.err == nil {
		w.err = os.WriteFile(filepath.Join(w.dir, hex.EncodeToString(sum[:])), data, 0o644)
	}
	return d
}

func (w *blobWriter) writeJSON(mediaType string, v any) Descriptor {
	data, err := json.Marshal(v)
	if err != nil {
		if w.err == nil {
			w.err = err
		}
		return Descriptor{}
	}
	return w.write(mediaType, data)
}

func (w *blobWriter) writeEmpty() Descriptor {
	d := w.write(MediaTypeEmpty, emptyJSON)
	d.Data = slices.Clone(emptyJSON)
	return d
}
