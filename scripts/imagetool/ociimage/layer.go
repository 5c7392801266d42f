// Package ociimage writes container images as OCI image layouts — a folder of content-addressed blobs that
// skopeo, oras, crane and containerd read — without a container daemon or a base image. An image here is
// one layer of files (a static binary and the little it needs) plus its config; the same input gives the same
// bytes, so the same source gives the same image digest.
//
// It writes the few JSON documents of the OCI image spec itself rather than using go-containerregistry: the
// only release line of that module the proxy serves would raise golang.org/x/crypto, x/net and OpenTelemetry
// for every app in this one module, for what is some two hundred lines of spec.
package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// File is one entry of an image's filesystem.
type File struct {
	Path string      // absolute, slash-separated: /usr/local/bin/gateway
	Mode fs.FileMode // permission bits, plus fs.ModeDir for a directory and fs.ModeSticky for /tmp
	Data []byte      // contents of a regular file
}

// layer is a gzipped tar of files: the bytes stored as the blob, and the digest of the uncompressed tar (the
// config's diff_id, which is what a runtime checks after unpacking).
type layer struct {
	gz     []byte
	diffID string
}

// buildLayer writes files, and every parent directory they imply (root-owned, 0755), as a tar sorted by
// path with owner 0:0 and mtime, so nothing about the machine or the moment of the build gets in: no user
// names, no atime or ctime (USTAR has none), no gzip name or timestamp.
func buildLayer(files []File, mtime time.Time) (layer, error) {
	entries := map[string]File{}
	for _, f := range files {
		p := path.Clean(f.Path)
		if !path.IsAbs(p) || p == "/" {
			return layer{}, fmt.Errorf("layer: path %q is not an absolute file path", f.Path)
		}
		if _, dup := entries[p]; dup {
			return layer{}, fmt.Errorf("layer: %s given twice", p)
		}
		f.Path = p
		entries[p] = f
	}
	for p := range entries {
		for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
			if e, ok := entries[dir]; ok {
				if !e.Mode.IsDir() {
					return layer{}, fmt.Errorf("layer: %s is a file and a parent directory", dir)
				}
				continue
			}
			entries[dir] = File{Path: dir, Mode: fs.ModeDir | 0o755}
		}
	}
	paths := make([]string, 0, len(entries))
	for p := range entries {
		paths = append(paths, p)
	}
	slices.Sort(paths)

	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	mtime = mtime.UTC().Truncate(time.Second)
	for _, p := range paths {
		f := entries[p]
		h := &tar.Header{
			Name:    strings.TrimPrefix(p, "/"),
			Mode:    int64(f.Mode.Perm()),
			ModTime: mtime,
			Format:  tar.FormatUSTAR,
		}
		if f.Mode&fs.ModeSticky != 0 {
			h.Mode |= 0o1000 // c_ISVTX
		}
		if f.Mode.IsDir() {
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return layer{}, fmt.Errorf("layer: %s: %w", p, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return layer{}, fmt.Errorf("layer: %s: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return layer{}, fmt.Errorf("layer: %w", err)
	}
	sum := sha256.Sum256(raw.Bytes())

	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return layer{}, fmt.Errorf("layer: %w", err)
	}
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return layer{}, fmt.Errorf("layer: compress: %w", err)
	}
	if err := zw.Close(); err != nil {
		return layer{}, fmt.Errorf("layer: compress: %w", err)
	}
	return layer{gz: gz.Bytes(), diffID: "sha256:" + hex.EncodeToString(sum[:])}, nil
}
