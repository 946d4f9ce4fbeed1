package oci

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/undo"
)

var _ registry.Restorer = (*Backend)(nil)

// RawManifest GETs the manifest digest of repo with the full Accept set and
// returns its bytes and media type as served, after checking that they
// hash to digest.
func (b *Backend) RawManifest(ctx context.Context, repo, digest string) (*image.Raw, error) {
	if !undo.ValidDigest(digest) {
		return nil, fmt.Errorf("get manifest %s: not a sha256 digest", digest)
	}
	var raw *image.Raw
	err := readAgain(ctx, func() error {
		desc, err := b.get(ctx, repo, digest)
		if err != nil {
			return err
		}
		raw = &image.Raw{MediaType: string(desc.MediaType), Bytes: desc.Manifest}
		return nil
	})
	if err != nil {
		return nil, b.classify(err, fmt.Sprintf("pull on repository %q", repo), "get manifest "+digest)
	}
	if got := undo.Digest(raw.Bytes); got != digest {
		return nil, fmt.Errorf("get manifest %s: the registry served bytes that hash to %s", digest, got)
	}
	return raw, nil
}

// BlobExists HEADs the blob digest of repo.
func (b *Backend) BlobExists(ctx context.Context, repo, digest string) (bool, error) {
	need := fmt.Sprintf("pull on repository %q", repo)
	var ok bool
	err := readAgain(ctx, func() error {
		resp, err := b.send(ctx, repo, transport.PullScope, http.MethodHead, "/blobs/"+digest, nil, "")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			ok = false
			return nil
		}
		ok = true
		return transport.CheckError(resp, http.StatusOK)
	})
	if err != nil {
		return false, b.classify(err, need, "check blob "+digest)
	}
	return ok, nil
}

// PutManifest uploads raw as repo's manifest ref (a digest or a tag).
func (b *Backend) PutManifest(ctx context.Context, repo, ref string, raw *image.Raw) error {
	resp, err := b.send(ctx, repo, transport.PushScope, http.MethodPut, "/manifests/"+ref, raw.Bytes, raw.MediaType)
	if err == nil {
		defer resp.Body.Close()
		err = transport.CheckError(resp, http.StatusCreated, http.StatusOK, http.StatusAccepted)
	}
	return b.classify(err, fmt.Sprintf("push on repository %q", repo), "put manifest "+ref)
}

// send sends one request to /v2/<repo><path> with a client authorised for
// scope; the caller closes the answer's body.
func (b *Backend) send(ctx context.Context, repo, scope, method, path string, body []byte, contentType string) (*http.Response, error) {
	c, err := b.client(ctx, repo, scope)
	if err != nil {
		return nil, err
	}
	u := url.URL{Scheme: b.reg.Scheme(), Host: b.reg.RegistryStr(), Path: "/v2/" + repo + path}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return c.Do(req)
}
