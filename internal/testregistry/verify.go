package testregistry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// acceptManifests is the full Accept set used for manifest requests.
var acceptManifests = strings.Join([]string{
	string(types.OCIManifestSchema1),
	string(types.OCIImageIndex),
	string(types.DockerManifestSchema2),
	string(types.DockerManifestList),
}, ", ")

// httpClient is used for the raw requests of VerifyPull, Exists, ListTags
// and the direct manifest PUTs. The registries are unauthenticated.
var httpClient = &http.Client{
	Transport: http.DefaultTransport.(*http.Transport).Clone(),
	Timeout:   2 * time.Minute,
}

// StatusError is a non-success registry response. Its message is
// "<status> <CODE>", e.g. "404 BLOB_UNKNOWN" (the code is the first entry of
// the registry's JSON error body, if any).
type StatusError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the first registry error code, e.g. "MANIFEST_UNKNOWN"; empty
	// when the body had none (always so for HEAD).
	Code string
	// Message is the first registry error message, if any.
	Message string
}

// Error returns "<status> <CODE>", or "<status> <status text>" without a code.
func (e *StatusError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	return fmt.Sprintf("%d %s", e.StatusCode, e.Code)
}

// IsNotFound reports whether err is (or wraps) a 404 [StatusError].
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.StatusCode == http.StatusNotFound
}

func statusError(resp *http.Response) *StatusError {
	se := &StatusError{StatusCode: resp.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var eb struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &eb) == nil && len(eb.Errors) > 0 {
		se.Code, se.Message = eb.Errors[0].Code, eb.Errors[0].Message
	}
	return se
}

// v2URL builds http://<registry>/v2/<repo>/<kind>/<ref>.
func v2URL(repo name.Repository, kind, ref string) string {
	return fmt.Sprintf("http://%s/v2/%s/%s/%s", repo.RegistryStr(), repo.RepositoryStr(), kind, ref)
}

func do(ctx context.Context, method, u string, body []byte, header http.Header) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return httpClient.Do(req)
}

// putManifest PUTs raw to ref with the given content type, bypassing
// go-containerregistry (which would also update the referrers fallback tag).
func putManifest(ctx context.Context, ref name.Reference, raw []byte, mt types.MediaType) error {
	resp, err := do(ctx, http.MethodPut, v2URL(ref.Context(), "manifests", ref.Identifier()), raw,
		http.Header{"Content-Type": {string(mt)}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		return statusError(resp)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// shortRef renders ref without its registry: "app:v1" or "app@sha256:...".
func shortRef(ref name.Reference) string {
	if d, ok := ref.(name.Digest); ok {
		return d.Context().RepositoryStr() + "@" + d.DigestStr()
	}
	return ref.Context().RepositoryStr() + ":" + ref.Identifier()
}

// VerifyPull pulls everything ref points to, the way a client pulling every
// platform would, and checks it: the manifest (fetched with every manifest
// media type accepted); for an image its config blob and every layer blob
// (bytes read, sha256 and size checked against the descriptors; layers with
// non-distributable media types are skipped); for an OCI index or Docker
// manifest list every child manifest by digest, recursively. Manifests
// fetched by digest are checked against their digest too.
//
// The error names the piece that failed, e.g.
//
//	app:v1: child sha256:… (linux/arm64): layer sha256:…: 404 BLOB_UNKNOWN
//
// and wraps a [*StatusError] when the registry refused a request.
func VerifyPull(ctx context.Context, ref string) error {
	r, err := parseRef(ref)
	if err != nil {
		return err
	}
	if err := verifyManifest(ctx, r.Context(), r.Identifier(), nil, 0); err != nil {
		return fmt.Errorf("%s: %w", shortRef(r), err)
	}
	return nil
}

const maxIndexDepth = 16

func verifyManifest(ctx context.Context, repo name.Repository, ref string, want *v1.Descriptor, depth int) error {
	if depth > maxIndexDepth {
		return fmt.Errorf("indexes nested deeper than %d", maxIndexDepth)
	}
	resp, err := do(ctx, http.MethodGet, v2URL(repo, "manifests", ref), nil, http.Header{"Accept": {acceptManifests}})
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("manifest: %w", statusError(resp))
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("manifest: read: %w", err)
	}
	got := sha256Digest(body)
	if h, err := v1.NewHash(ref); err == nil && h != got {
		return fmt.Errorf("manifest: digest mismatch: got %s", got)
	}
	if want != nil {
		if want.Digest != got {
			return fmt.Errorf("manifest: digest mismatch: got %s", got)
		}
		if want.Size != 0 && want.Size != int64(len(body)) {
			return fmt.Errorf("manifest: size mismatch: descriptor says %d, got %d", want.Size, len(body))
		}
	}

	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	mt := probe.MediaType
	if mt == "" {
		mt = types.MediaType(strings.TrimSpace(strings.Split(resp.Header.Get("Content-Type"), ";")[0]))
	}

	switch {
	case mt.IsIndex():
		im, err := v1.ParseIndexManifest(bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("index: %w", err)
		}
		for _, d := range im.Manifests {
			label := "child " + d.Digest.String()
			if d.Platform != nil {
				label += " (" + d.Platform.String() + ")"
			}
			if d.MediaType.IsIndex() || d.MediaType.IsImage() {
				if err := verifyManifest(ctx, repo, d.Digest.String(), &d, depth+1); err != nil {
					return fmt.Errorf("%s: %w", label, err)
				}
				continue
			}
			if err := verifyBlob(ctx, repo, d); err != nil {
				return fmt.Errorf("%s: %w", label, err)
			}
		}
		return nil
	case mt.IsImage():
		m, err := v1.ParseManifest(bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("image manifest: %w", err)
		}
		if err := verifyBlob(ctx, repo, m.Config); err != nil {
			return fmt.Errorf("config %s: %w", m.Config.Digest, err)
		}
		for _, l := range m.Layers {
			if !l.MediaType.IsDistributable() {
				continue
			}
			if err := verifyBlob(ctx, repo, l); err != nil {
				return fmt.Errorf("layer %s: %w", l.Digest, err)
			}
		}
		return nil
	default:
		return fmt.Errorf("manifest: unsupported media type %q", mt)
	}
}

func verifyBlob(ctx context.Context, repo name.Repository, d v1.Descriptor) error {
	resp, err := do(ctx, http.MethodGet, v2URL(repo, "blobs", d.Digest.String()), nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusError(resp)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	got := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	if got != d.Digest {
		return fmt.Errorf("digest mismatch: got %s", got)
	}
	if d.Size != 0 && n != d.Size {
		return fmt.Errorf("size mismatch: descriptor says %d, got %d", d.Size, n)
	}
	return nil
}

func sha256Digest(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

// Exists reports whether ref (tag or digest) resolves to a manifest, using
// HEAD with every manifest media type accepted. Any 404 (MANIFEST_UNKNOWN,
// NAME_UNKNOWN; HEAD responses carry no code) yields false and no error.
func Exists(ctx context.Context, ref string) (bool, error) {
	r, err := parseRef(ref)
	if err != nil {
		return false, err
	}
	resp, err := do(ctx, http.MethodHead, v2URL(r.Context(), "manifests", r.Identifier()), nil,
		http.Header{"Accept": {acceptManifests}})
	if err != nil {
		return false, fmt.Errorf("testregistry: head %s: %w", ref, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("testregistry: head %s: %w", ref, statusError(resp))
}

// ListTags returns all tags of repo (e.g. "127.0.0.1:5000/app"), sorted,
// following Link pagination. An unknown repository yields an empty slice
// and no error.
func ListTags(ctx context.Context, repo string) ([]string, error) {
	rp, err := parseRepo(repo)
	if err != nil {
		return nil, err
	}
	tags := []string{}
	next := fmt.Sprintf("http://%s/v2/%s/tags/list", rp.RegistryStr(), rp.RepositoryStr())
	for page := 0; next != ""; page++ {
		if page > 10000 {
			return nil, fmt.Errorf("testregistry: list tags %s: too many pages", repo)
		}
		var body struct {
			Tags []string `json:"tags"`
		}
		var link string
		err := func() error {
			resp, err := do(ctx, http.MethodGet, next, nil, nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return statusError(resp)
			}
			link = resp.Header.Get("Link")
			return json.NewDecoder(resp.Body).Decode(&body)
		}()
		if err != nil {
			if IsNotFound(err) && page == 0 {
				return tags, nil
			}
			return nil, fmt.Errorf("testregistry: list tags %s: %w", repo, err)
		}
		tags = append(tags, body.Tags...)
		next, err = nextLink(next, link)
		if err != nil {
			return nil, fmt.Errorf("testregistry: list tags %s: %w", repo, err)
		}
	}
	slices.Sort(tags)
	return slices.Compact(tags), nil
}

// nextLink resolves the rel="next" target of a Link header against base.
func nextLink(base, link string) (string, error) {
	if link == "" {
		return "", nil
	}
	for part := range strings.SplitSeq(link, ",") {
		part = strings.TrimSpace(part)
		if !strings.Contains(part, `rel="next"`) {
			continue
		}
		start, end := strings.Index(part, "<"), strings.Index(part, ">")
		if start < 0 || end < start {
			return "", fmt.Errorf("malformed Link header %q", link)
		}
		b, err := url.Parse(base)
		if err != nil {
			return "", err
		}
		u, err := b.Parse(part[start+1 : end])
		if err != nil {
			return "", err
		}
		return u.String(), nil
	}
	return "", nil
}
