package dockerhub

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
)

// The graph from the Hub listing. Every manifest GET on Docker Hub's
// registry API is a pull counted against the caller's pull limit ("A pull
// for a normal image makes one pull for a single manifest … Using GET
// emulates a real pull and counts towards the limit. Using HEAD won't.",
// docker/docs content/manuals/docker-hub/usage/pulls.md), and the tag
// listing already says, per tag, the manifest digest and media type and,
// for an index, its platform images with their digests and sizes (and,
// where the answer has them, the layers: the reference's image schema).
// So the backend answers Manifest from the listing wherever the listing
// tells, and GETs a manifest only where it cannot: a tag listed without a
// digest or media type, an index listed without its platform images, a
// manifest the listing never named (a referrer), or, under age-source
// created, an image whose creation time only its config has.

// listedImage is one platform image as the listing describes it.
type listedImage struct {
	Digest       string `json:"digest"`
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant"`
	Size         int64  `json:"size"`
	Layers       *[]struct {
		Digest string `json:"digest"`
		Size   int64  `json:"size"`
	} `json:"layers"`
}

func (i listedImage) platform() string {
	p := i.OS + "/" + i.Architecture
	if i.Variant != "" {
		p += "/" + i.Variant
	}
	return p
}

// blobs are the image's blobs as far as the listing tells: its layers
// where the answer lists them, else one stand-in of the image's size
// (named by the image's digest, so that the tags of one image share it).
// The manifest and its image config, a few KB, are not in the listing.
func (i listedImage) blobs() []image.Blob {
	if i.Layers == nil {
		return []image.Blob{{Digest: "listing-size:" + i.Digest, Size: i.Size}}
	}
	out := make([]image.Blob, 0, len(*i.Layers))
	for _, l := range *i.Layers {
		if l.Digest != "" {
			out = append(out, image.Blob{Digest: l.Digest, Size: l.Size})
		}
	}
	return out
}

// listedTag is one result of the tag listing.
type listedTag struct {
	Name          string        `json:"name"`
	Digest        string        `json:"digest"`
	MediaType     string        `json:"media_type"`
	Images        []listedImage `json:"images"`
	TagLastPushed *string       `json:"tag_last_pushed"`
	LastUpdated   *string       `json:"last_updated"`
}

// childType is the media type of an index's platform images.
func childType(index string) string {
	if index == image.MediaTypeDockerList {
		return image.MediaTypeDockerManifest
	}
	return image.MediaTypeOCIManifest
}

// learn records what t tells of its manifest (and, for an index, of its
// platform images) for Manifest; a tag that does not tell enough records
// nothing, and its manifest is read from the registry.
func (b *Backend) learn(repo string, t listedTag) {
	if t.Digest == "" {
		return
	}
	switch {
	case image.IsIndex(t.MediaType):
		if len(t.Images) == 0 {
			return // the platforms are not listed: GET the index
		}
		m := &image.Manifest{Digest: t.Digest, MediaType: t.MediaType, ChildInfo: map[string]string{}}
		for _, i := range t.Images {
			if i.Digest == "" {
				return
			}
			m.Children = append(m.Children, i.Digest)
			m.ChildInfo[i.Digest] = i.platform()
		}
		for _, i := range t.Images {
			b.listed.LoadOrStore(repo+"@"+i.Digest, &image.Manifest{Digest: i.Digest, MediaType: childType(t.MediaType), Blobs: i.blobs()})
		}
		b.listed.Store(repo+"@"+t.Digest, m)
	case t.MediaType == image.MediaTypeOCIManifest || t.MediaType == image.MediaTypeDockerManifest:
		// A single image lists itself as its one platform image.
		for _, i := range t.Images {
			if i.Digest == t.Digest {
				b.listed.Store(repo+"@"+t.Digest, &image.Manifest{Digest: t.Digest, MediaType: t.MediaType, Blobs: i.blobs()})
				return
			}
		}
	}
}

// fromListing is the manifest digest of repo as the listing describes it,
// nil when the listing does not tell (or creation times are needed, which
// only the image config has).
func (b *Backend) fromListing(repo, ref string) *image.Manifest {
	if b.createdAges || !strings.HasPrefix(ref, "sha256:") {
		return nil
	}
	v, ok := b.listed.Load(full(repo) + "@" + ref)
	if !ok {
		return nil
	}
	m := *v.(*image.Manifest) // a copy: the caller owns it
	return &m
}

// --- immutable tags ---

// immutability is a repository's immutable_tags_settings (Hub API
// reference, "Get a repository", schema immutable_tags_settings: enabled
// and rules, both required; added 2025-07-29). The rules are regular
// expressions: "This implementation of regular expressions follows the Go
// regexp package, which is based on the RE2 engine" (docker/docs
// content/manuals/docker-hub/repos/manage/hub-images/immutable-tags.md).
// Only enabled decides: a live answer had rules [".*"] with enabled false.
type immutability struct {
	rules []string
	res   []*regexp.Regexp // nil where a rule does not compile
}

// rule is the rule that makes tag immutable, "" when none does. Whether
// Docker Hub anchors its rules is not documented (its examples, v.* and
// .*-RELEASE, read either way): a rule that matches anywhere in the tag
// protects it, so a tag is never deleted that Docker Hub would refuse.
// A rule that is no RE2 regular expression protects every tag.
func (im *immutability) rule(tag string) string {
	if im == nil {
		return ""
	}
	for i, re := range im.res {
		if re == nil || re.MatchString(tag) {
			return im.rules[i]
		}
	}
	return ""
}

// immutableReason is what the report says of a tag a rule protects.
func immutableReason(rule string) string { return "immutable on Docker Hub: rule " + rule }

// immutable reads repo's immutable_tags_settings: nil when tags are
// mutable.
func (b *Backend) immutable(ctx context.Context, ns, name string) (*immutability, error) {
	path := fmt.Sprintf("/v2/namespaces/%s/repositories/%s", url.PathEscape(ns), url.PathEscape(name))
	resp, err := b.do(ctx, http.MethodGet, path, "read the immutable-tag settings of "+ns+"/"+name,
		fmt.Sprintf("read access to repository %q (%s)", ns+"/"+name, DeleteScope), http.StatusOK)
	if err != nil {
		return nil, err
	}
	var info struct {
		Settings *struct {
			Enabled bool     `json:"enabled"`
			Rules   []string `json:"rules"`
		} `json:"immutable_tags_settings"`
	}
	if err := json.Unmarshal(resp.Body, &info); err != nil {
		return nil, fmt.Errorf("read the immutable-tag settings of %s/%s: bad answer from the Hub API: %w", ns, name, err)
	}
	if info.Settings == nil || !info.Settings.Enabled || len(info.Settings.Rules) == 0 {
		return nil, nil
	}
	im := &immutability{rules: info.Settings.Rules, res: make([]*regexp.Regexp, len(info.Settings.Rules))}
	for i, r := range info.Settings.Rules {
		im.res[i], _ = regexp.Compile(r)
	}
	return im, nil
}

// refusedAsImmutable reports, after the Hub API refused to delete tag,
// whether an immutability rule explains it (the settings are read again:
// they may have changed since the listing), as a *registry.ProtectedError.
func (b *Backend) refusedAsImmutable(ctx context.Context, repo, tag string, refusal error) error {
	ns, name, err := split(repo)
	if err != nil {
		return nil
	}
	im, err := b.immutable(ctx, ns, name)
	if err != nil {
		return nil
	}
	if r := im.rule(tag); r != "" {
		return &registry.ProtectedError{Reason: immutableReason(r), Err: refusal}
	}
	return nil
}
