package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Layout is an image read back from a layout folder, every blob checked against its digest and size. It is
// how the tests look at what WriteLayout wrote, the way a registry or runtime would.
type Layout struct {
	Index     Index
	ImageDesc Descriptor // the index entry named by the tag
	Manifest  Manifest
	Config    ImageConfig
	Files     map[string]File // the layer's entries by absolute path
	SBOM      []byte          // the SPDX document of the artifact whose subject is the image, if any
}

// ReadLayout reads the image tagged tag from the layout in dir.
func ReadLayout(dir, tag string) (*Layout, error) {
	var l Layout
	if err := readJSON(filepath.Join(dir, "index.json"), &l.Index); err != nil {
		return nil, fmt.Errorf("read layout: %w", err)
	}
	for _, d := range l.Index.Manifests {
		if d.Annotations[AnnotationRefName] == tag {
			l.ImageDesc = d
		}
	}
	if l.ImageDesc.Digest == "" {
		return nil, fmt.Errorf("read layout %s: no manifest tagged %q", dir, tag)
	}
	if err := readBlobJSON(dir, l.ImageDesc, &l.Manifest); err != nil {
		return nil, fmt.Errorf("read layout %s: manifest: %w", dir, err)
	}
	if err := readBlobJSON(dir, l.Manifest.Config, &l.Config); err != nil {
		return nil, fmt.Errorf("read layout %s: config: %w", dir, err)
	}
	if len(l.Manifest.Layers) != len(l.Config.RootFS.DiffIDs) {
		return nil, fmt.Errorf("read layout %s: %d layers but %d diff_ids", dir, len(l.Manifest.Layers), len(l.Config.RootFS.DiffIDs))
	}
	l.Files = map[string]File{}
	for i, ld := range l.Manifest.Layers {
		gz, err := readBlob(dir, ld)
		if err != nil {
			return nil, fmt.Errorf("read layout %s: layer: %w", dir, err)
		}
		if err := untar(gz, l.Config.RootFS.DiffIDs[i], l.Files); err != nil {
			return nil, fmt.Errorf("read layout %s: layer %s: %w", dir, ld.Digest, err)
		}
	}
	for _, d := range l.Index.Manifests {
		if d.ArtifactType != MediaTypeSPDX {
			continue
		}
		var m Manifest
		if err := readBlobJSON(dir, d, &m); err != nil {
			return nil, fmt.Errorf("read layout %s: sbom manifest: %w", dir, err)
		}
		if m.Subject == nil || m.Subject.Digest != l.ImageDesc.Digest || len(m.Layers) != 1 {
			continue
		}
		sbom, err := readBlob(dir, m.Layers[0])
		if err != nil {
			return nil, fmt.Errorf("read layout %s: sbom: %w", dir, err)
		}
		l.SBOM = sbom
	}
	return &l, nil
}

func untar(gz []byte, diffID string, files map[string]File) error {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return err
	}
	if sum := sha256.Sum256(raw); "sha256:"+hex.EncodeToString(sum[:]) != diffID {
		return errors.New("uncompressed content does not match its diff_id")
	}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		mode := h.FileInfo().Mode()
		p := "/" + strings.TrimSuffix(h.Name, "/")
		files[p] = File{Path: p, Mode: mode, Data: data}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			return fmt.Errorf("%s is owned by %d:%d (%s:%s), not root", p, h.Uid, h.Gid, h.Uname, h.Gname)
		}
	}
}

func readBlob(dir string, d Descriptor) ([]byte, error) {
	hexDigest, ok := strings.CutPrefix(d.Digest, "sha256:")
	if !ok {
		return nil, fmt.Errorf("digest %q is not sha256", d.Digest)
	}
	data, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", hexDigest))
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != hexDigest || int64(len(data)) != d.Size {
		return nil, fmt.Errorf("blob %s does not match its descriptor (size %d, want %d)", d.Digest, len(data), d.Size)
	}
	return data, nil
}

func readBlobJSON(dir string, d Descriptor, v any) error {
	data, err := readBlob(dir, d)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

func readJSON(file string, v any) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}
