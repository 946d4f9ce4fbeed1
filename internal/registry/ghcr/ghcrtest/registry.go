package ghcrtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// secretHeader marks the replica's own DELETEs on the registry, which the
// GHCR-like hook lets through.
const secretHeader = "X-Ghcrtest-Secret"

// acceptManifests is the full Accept set: OCI index and manifest, Docker
// list and schema 2.
var acceptManifests = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

// regClient is the replica's side channel to the registry's own API.
type regClient struct {
	addr   string
	secret string
	http   *http.Client
}

func newRegClient(addr string) *regClient {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return &regClient{addr: addr, secret: hex.EncodeToString(b[:]),
		http: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: time.Minute}}
}

// hook answers every public DELETE on the registry API the way ghcr.io does
// (405 UNSUPPORTED, skopeo#1880), and lets the replica's own through.
func (c *regClient) hook() testregistry.Hook {
	return func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodDelete || req.Header.Get(secretHeader) == c.secret {
			return false
		}
		testregistry.WriteError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "The operation is unsupported.")
		return true
	}
}

func (c *regClient) do(ctx context.Context, method, path string, h http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.addr+path, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	return c.http.Do(req)
}

// catalog lists every repository of the registry, following Link.
func (c *regClient) catalog(ctx context.Context) ([]string, error) {
	var out []string
	next := "/v2/_catalog?n=1000"
	for page := 0; next != ""; page++ {
		if page > 1000 {
			return nil, fmt.Errorf("catalog: too many pages")
		}
		resp, err := c.do(ctx, http.MethodGet, next, nil)
		if err != nil {
			return nil, err
		}
		var body struct {
			Repositories []string `json:"repositories"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("catalog: %s", resp.Status)
		}
		if err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		out = append(out, body.Repositories...)
		next = ""
		if l := resp.Header.Get("Link"); l != "" {
			if i, j := strings.Index(l, "<"), strings.Index(l, ">"); i >= 0 && j > i && strings.Contains(l, `rel="next"`) {
				u, err := url.Parse(l[i+1 : j])
				if err != nil {
					return nil, err
				}
				next = u.RequestURI()
			}
		}
	}
	return out, nil
}

// head resolves ref (tag or digest) with the full Accept set; ok is false
// when the registry has no such manifest.
func (c *regClient) head(ctx context.Context, repo, ref string) (digest string, ok bool, err error) {
	resp, err := c.do(ctx, http.MethodHead, "/v2/"+repo+"/manifests/"+ref, http.Header{"Accept": {acceptManifests}})
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		d := resp.Header.Get("Docker-Content-Digest")
		if d == "" {
			return "", false, fmt.Errorf("HEAD %s:%s: no Docker-Content-Digest", repo, ref)
		}
		return d, true, nil
	case http.StatusNotFound:
		return "", false, nil
	}
	return "", false, fmt.Errorf("HEAD %s:%s: %s", repo, ref, resp.Status)
}

// children returns the digests an index lists (nil for an image); ok is
// false when the manifest is gone.
func (c *regClient) children(ctx context.Context, repo, digest string) (kids []string, ok bool, err error) {
	resp, err := c.do(ctx, http.MethodGet, "/v2/"+repo+"/manifests/"+digest, http.Header{"Accept": {acceptManifests}})
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, false, nil
	default:
		return nil, false, fmt.Errorf("GET %s@%s: %s", repo, digest, resp.Status)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, false, err
	}
	var m struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, false, fmt.Errorf("GET %s@%s: %w", repo, digest, err)
	}
	for _, d := range m.Manifests {
		kids = append(kids, d.Digest)
	}
	return kids, true, nil
}

// deleteManifest deletes a manifest by digest through the side channel
// (the registry cascades its tags).
func (c *regClient) deleteManifest(ctx context.Context, repo, digest string) error {
	resp, err := c.do(ctx, http.MethodDelete, "/v2/"+repo+"/manifests/"+digest, http.Header{secretHeader: {c.secret}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("DELETE %s@%s on the registry: %s", repo, digest, resp.Status)
	}
	return nil
}
