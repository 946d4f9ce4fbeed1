// Package report holds what a run did, and renders it: the JSON report,
// the step outputs and the markdown job summary.
package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"
)

// Actions, as the JSON report spells them.
const (
	Deleted     = "deleted"
	WouldDelete = "would-delete"
	Kept        = "kept"
	Failed      = "failed"
)

// Report is the JSON report of one run.
type Report struct {
	Registry     string       `json:"registry"`
	DryRun       bool         `json:"dryRun"`
	StartedAt    time.Time    `json:"startedAt"`
	FinishedAt   time.Time    `json:"finishedAt"`
	Policy       Policy       `json:"policy"`
	Repositories []Repository `json:"repositories"`
	Totals       Totals       `json:"totals"`
	// Errors are failures that belong to no single tag (catalog, listing).
	Errors []string `json:"errors,omitempty"`
	// Warnings are things the user should know that did not fail the run.
	Warnings []string `json:"warnings,omitempty"`
	// Requests counts the HTTP requests sent to the registry.
	Requests int64 `json:"requests"`
	// Pulls counts the requests the registry counts against its pull
	// limit (Docker Hub: manifest GETs; HEADs are free); absent where the
	// registry has no pull limit.
	Pulls *int64 `json:"pulls,omitempty"`
	// GCHint tells how to free the space on this registry.
	GCHint string `json:"gcHint,omitempty"`
	// ReclaimedAtMost says the reclaimed bytes are an upper bound: the
	// registry cannot list its untagged manifests, and one of them (left by
	// an overwritten tag) may hold layers counted as freed.
	ReclaimedAtMost bool `json:"reclaimedAtMost,omitempty"`
	// Cap is set when max-deletions refused the plan: nothing was deleted,
	// and the tags it held back are reported failed with Capped set.
	Cap *Cap `json:"maxDeletionsRefused,omitempty"`
	// Undo is set when the run wrote an undo file (undo-file).
	Undo *Undo `json:"undo,omitempty"`
	// Protection is set under protect-images.
	Protection *Protection `json:"protection,omitempty"`
	// Cache is what the cache-dir saved, when one is set.
	Cache *Cache `json:"cache,omitempty"`
	// Load is how the run used its concurrency, when it sent requests.
	Load *Load `json:"load,omitempty"`
	// Spool, when set, holds the repositories the run finished, listed in
	// its order before Repositories and read back one at a time (Each).
	// It is not part of the JSON: WriteJSON writes its entries in place.
	Spool *Spool `json:"-"`
	// FreesSpace: the registry frees the space of deleted manifests itself
	// (GHCR); the summary's closing note is then GCHint alone, naming no
	// garbage collector.
	FreesSpace bool `json:"freesSpace,omitempty"`
	// UntaggedHint is set when delete-untagged was asked of a registry
	// that cannot list its untagged manifests: how it removes them. The
	// summary says it once.
	UntaggedHint string `json:"untaggedHint,omitempty"`
}

// Unspool reads the spooled repositories back into Repositories, in the
// report's order, and releases the spool: for a caller that wants the
// whole report in memory (a test, a small run). Each reads them one at a
// time instead.
func (r *Report) Unspool() error {
	if r.Spool == nil {
		return nil
	}
	all := []Repository{}
	if err := r.Each(func(repo *Repository) error {
		all = append(all, *repo)
		return nil
	}); err != nil {
		return err
	}
	err := r.Close()
	r.Repositories, r.Spool = all, nil
	return err
}

// Close releases what the report holds outside memory (its spool).
func (r *Report) Close() error { return r.Spool.Close() }

// Each calls fn with every repository of the report, in order: the
// spooled ones (each decoded in turn, so that only one is in memory), then
// Repositories. It stops at fn's first error and returns it.
func (r *Report) Each(fn func(*Repository) error) error {
	if s := r.Spool; s != nil {
		for i := range s.len() {
			b, err := s.raw(i)
			if err != nil {
				return err
			}
			if b == nil {
				continue
			}
			var repo Repository
			if err := json.Unmarshal(b, &repo); err != nil {
				return fmt.Errorf("report spool: %w", err)
			}
			if err := fn(&repo); err != nil {
				return err
			}
		}
	}
	for i := range r.Repositories {
		if err := fn(&r.Repositories[i]); err != nil {
			return err
		}
	}
	return nil
}

// Undo is the undo file a run wrote, and how to restore from it.
type Undo struct {
	// File is the undo-file path.
	File string `json:"file"`
	// Entries counts the deletions this run recorded in it.
	Entries int `json:"entries"`
	// Restore is the command that puts them back.
	Restore string `json:"restore"`
	// Window says until when the registry lets them be put back.
	Window string `json:"window,omitempty"`
}

// Cache is what the cache directory (cache-dir) did in a run.
type Cache struct {
	// Dir is the directory.
	Dir string `json:"dir"`
	// ManifestHits counts the manifests read from the cache, and
	// ManifestMisses those read from the registry (digests it did not
	// hold); the same for image configs.
	ManifestHits   int64 `json:"manifestHits"`
	ManifestMisses int64 `json:"manifestMisses"`
	ConfigHits     int64 `json:"configHits"`
	ConfigMisses   int64 `json:"configMisses"`
	// Dropped counts entries that failed their verification (or could not
	// be read): each was removed and read from the registry again.
	Dropped int64 `json:"dropped,omitempty"`
	// Entries and Bytes are what the directory holds at the end, after
	// Pruned entries unused for 30 days were removed.
	Entries int   `json:"entries"`
	Bytes   int64 `json:"bytes"`
	Pruned  int   `json:"pruned"`
	// Error is why the directory could not be pruned or measured.
	Error string `json:"error,omitempty"`
}

// Cap is a plan that max-deletions refused.
type Cap struct {
	// Max is the max-deletions input.
	Max int `json:"max"`
	// Planned is the number of tags the plan would delete.
	Planned int `json:"planned"`
	// Untagged is the number of untagged manifests delete-untagged would
	// delete (they count toward max-deletions too).
	Untagged int `json:"untagged,omitempty"`
	// First names the first few of them, "repository:tag".
	First []string `json:"first"`
}

// Error is the run's error: the count, the cap and the first tags.
func (c *Cap) Error() string {
	more := ""
	if c.Planned+c.Untagged > len(c.First) {
		more = fmt.Sprintf(" and %d more", c.Planned+c.Untagged-len(c.First))
	}
	return fmt.Sprintf("max-deletions: the plan would delete %s, more than max-deletions=%d; nothing was deleted (%s%s)",
		c.What(), c.Max, strings.Join(c.First, ", "), more)
}

// What is what the plan would delete: "12 tags", or "12 tags and 30
// untagged manifests" (42 deletions against the cap).
func (c *Cap) What() string {
	if c.Untagged == 0 {
		return fmt.Sprintf("%d tags", c.Planned)
	}
	return fmt.Sprintf("%d tags and %s", c.Planned, Count(c.Untagged, "untagged manifest"))
}

// TagError is the short error of each tag the cap held back.
func (c *Cap) TagError() string {
	return fmt.Sprintf("not deleted: held back by max-deletions=%d (the plan would delete %s)", c.Max, c.What())
}

// ReclaimedNote explains a reclaimed figure that is an upper bound.
const ReclaimedNote = "untagged manifests this registry cannot list may hold some of these layers"

// Reclaimed renders n reclaimed bytes for people: "1.5 MiB", or "at most
// 1.5 MiB" where the figure is an upper bound (see ReclaimedAtMost).
func (r *Report) Reclaimed(n int64) string {
	if r.ReclaimedAtMost && n > 0 {
		return "at most " + Bytes(n)
	}
	return Bytes(n)
}

// Policy echoes the inputs that shaped the plan.
type Policy struct {
	Repositories  []string `json:"repositories"`
	Keep          int      `json:"keep"`
	OlderThan     string   `json:"olderThan,omitempty"`
	IncludeTags   []string `json:"includeTags"`
	ExcludeTags   []string `json:"excludeTags,omitempty"`
	KeepSemver    string   `json:"keepSemver,omitempty"`
	OrderBy       string   `json:"orderBy"`
	DeleteOrphans bool     `json:"deleteOrphans"`
	// DeleteUntagged and KeepUntagged are the inputs of those names.
	DeleteUntagged bool `json:"deleteUntagged,omitempty"`
	KeepUntagged   int  `json:"keepUntagged,omitempty"`
	// Provider is the provider in use (auto resolved).
	Provider string `json:"provider,omitempty"`
	// AgeSource is the age in use: "pushed" where the provider reports push
	// times and age-source is auto or pushed, else "created".
	AgeSource string `json:"ageSource,omitempty"`
	// MaxDeletions is the cap on deletions (0: none).
	MaxDeletions int `json:"maxDeletions,omitempty"`
	// Timeout bounds the run, as given ("" : none).
	Timeout string `json:"timeout,omitempty"`
	// Shard is the shard input ("i/n"), when set.
	Shard string `json:"shard,omitempty"`
	// PolicyFile is the policy-file input, and Rules its rules, in order
	// (Keep, OlderThan, IncludeTags and OrderBy above are then unused).
	PolicyFile string       `json:"policyFile,omitempty"`
	Rules      []PolicyRule `json:"rules,omitempty"`
	// ProtectImages are the protect-images references to this registry.
	ProtectImages []string `json:"protectImages,omitempty"`
}

// PolicyRule is one rule of a policy file as written (defaults filled),
// with what it governed in this run.
type PolicyRule struct {
	// Rule is the rule's number, from 1.
	Rule           int      `json:"rule"`
	Repositories   []string `json:"repositories"`
	Tags           []string `json:"tags"`
	ExcludeTags    []string `json:"excludeTags,omitempty"`
	Keep           int      `json:"keep"`
	OlderThan      string   `json:"olderThan,omitempty"`
	KeepSemver     string   `json:"keepSemver,omitempty"`
	OrderBy        string   `json:"orderBy"`
	DeleteUntagged bool     `json:"deleteUntagged,omitempty"`
	KeepUntagged   int      `json:"keepUntagged,omitempty"`
	// Governed counts the tags the rule governed; Deleted those of them
	// the plan deletes (in a dry run: would delete).
	Governed int `json:"tagsGoverned"`
	Deleted  int `json:"deleted"`
}

// Protection is what protect-images did.
type Protection struct {
	// References counts the references to this registry, Matched those
	// that named a tag or manifest of a repository of the run, Elsewhere
	// those to other registries (ignored).
	References int `json:"references"`
	Matched    int `json:"matched"`
	Elsewhere  int `json:"elsewhere,omitempty"`
	// Tags counts the tags kept because a protected reference reaches
	// them.
	Tags int `json:"tags"`
	// Unmatched are the references, to a repository the run covers or
	// would cover, that matched nothing (a typo protects nothing).
	Unmatched []string `json:"unmatched"`
}

// Repository is the outcome for one repository.
type Repository struct {
	Name string `json:"name"`
	Tags []Tag  `json:"tags"`
	// Error is set when the repository could not be handled (in full).
	Error          string `json:"error,omitempty"`
	ReclaimedBytes int64  `json:"reclaimedBytes"`
	// StillStored are manifests whose tags were deleted but which the
	// registry refused to delete: they stay stored and are not counted in
	// ReclaimedBytes.
	StillStored []StillStored `json:"stillStored,omitempty"`
	// Untagged has, under delete-untagged, one entry per untagged
	// manifest the registry listed (none where it cannot list them).
	Untagged []Untagged `json:"untagged,omitempty"`
}

// StillStored is a manifest left untagged but not deleted.
type StillStored struct {
	Digest string `json:"digest"`
	// Reason says why the registry did not delete it.
	Reason string `json:"reason"`
}

// DeletedUntagged counts the untagged manifests delete-untagged deleted
// (in a dry run: would delete): those not deleted with a tag's image.
func (r Repository) DeletedUntagged() int {
	withTag := map[string]bool{}
	for _, t := range r.Tags {
		for _, a := range t.Attached {
			withTag[a.Digest] = true
		}
	}
	n := 0
	for _, u := range r.Untagged {
		if (u.Action == Deleted || u.Action == WouldDelete) && !withTag[u.Digest] {
			n++
		}
	}
	return n
}

// Tag is the outcome for one tag.
type Tag struct {
	Tag     string     `json:"tag"`
	Digest  string     `json:"digest"`
	Created *time.Time `json:"created"`
	Action  string     `json:"action"`
	Reason  string     `json:"reason"`
	Error   string     `json:"error,omitempty"`
	// Stored, on a deleted tag, says that its manifest stays stored
	// untagged, and why (the registry refused to delete it).
	Stored string `json:"stored,omitempty"`
	// Capped marks a tag the plan would delete that max-deletions held
	// back (action failed): Reason is still the plan's.
	Capped bool `json:"capped,omitempty"`
	// Attached lists untagged manifests deleted with this tag's image:
	// index children, attestations, referrers.
	Attached []Attached `json:"attached,omitempty"`
}

// Untagged is one untagged manifest the registry listed, under
// delete-untagged: what became of it and why. One deleted with a tag's
// image is also among that tag's Attached.
type Untagged struct {
	Digest string `json:"digest"`
	// Pushed is the registry's push time; null when it gave none.
	Pushed *time.Time `json:"pushed"`
	Action string     `json:"action"`
	Reason string     `json:"reason"`
	Error  string     `json:"error,omitempty"`
	// Capped marks one max-deletions held back (action failed).
	Capped bool `json:"capped,omitempty"`
}

// Attached is an untagged manifest deleted with a tag's sub-graph.
type Attached struct {
	Digest string `json:"digest"`
	Kind   string `json:"kind"`
	Action string `json:"action"`
	Reason string `json:"reason"`
	Error  string `json:"error,omitempty"`
}

// Totals sum the repositories.
type Totals struct {
	Repositories   int   `json:"repositories"`
	Tags           int   `json:"tags"`
	Deleted        int   `json:"deleted"`
	Kept           int   `json:"kept"`
	Failed         int   `json:"failed"`
	ReclaimedBytes int64 `json:"reclaimedBytes"`
	// DeletedUntagged counts the untagged manifests delete-untagged
	// deleted (in a dry run: would delete); they are not tags.
	DeletedUntagged int `json:"deletedUntagged,omitempty"`
}

// Tally recomputes the totals from the repositories (the spooled ones
// were counted as they were put).
func (r *Report) Tally() {
	var t Totals
	if r.Spool != nil {
		r.Spool.mu.Lock()
		t = r.Spool.totals
		r.Spool.mu.Unlock()
	}
	for i := range r.Repositories {
		t.add(&r.Repositories[i])
	}
	r.Totals = t
}

// Failed reports whether anything went wrong.
func (r *Report) Failed() bool {
	if len(r.Errors) > 0 || r.Totals.Failed > 0 {
		return true
	}
	if r.Spool != nil {
		r.Spool.mu.Lock()
		failed := r.Spool.failed
		r.Spool.mu.Unlock()
		if failed {
			return true
		}
	}
	for _, repo := range r.Repositories {
		for _, u := range repo.Untagged {
			if u.Action == Failed {
				return true
			}
		}
	}
	for _, repo := range r.Repositories {
		if repo.Error != "" {
			return true
		}
	}
	return false
}

// DeletedTags lists "repository:tag" for every deleted (or would-delete) tag.
func (r *Report) DeletedTags() []string {
	out := []string{}
	_ = r.eachDeleted(func(s string) error {
		out = append(out, s)
		return nil
	})
	return out
}

// eachDeleted calls fn with "repository:tag" of every deleted (or
// would-delete) tag, in the report's order.
func (r *Report) eachDeleted(fn func(string) error) error {
	return r.Each(func(repo *Repository) error {
		for _, t := range repo.Tags {
			if t.Action == Deleted || t.Action == WouldDelete {
				if err := fn(repo.Name + ":" + t.Tag); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// JSON renders the report, indented.
func (r *Report) JSON() ([]byte, error) {
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteJSON streams the report, indented, to w (100k tags make a report
// of tens of MB; it is not built in memory first). It writes the bytes
// json.Encoder writes for the whole report (two-space indent, HTML left
// alone; nil repositories as []), but encodes one top-level field, and one
// repository, at a time: the object's keys and punctuation come from
// Report's json tags, never from searching encoded text, so no value (an
// empty policy list, a name or message of any content) can move them.
func (r *Report) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	put := func(v any, prefix string) error {
		buf.Reset()
		enc.SetIndent(prefix, "  ")
		if err := enc.Encode(v); err != nil {
			return err
		}
		_, err := bw.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
		return err
	}
	bw.WriteString("{")
	rv := reflect.ValueOf(r).Elem()
	sep := "\n  "
	for _, f := range reportFields {
		v := rv.Field(f.index)
		if f.omitEmpty && emptyJSON(v) {
			continue
		}
		bw.WriteString(sep + f.key + ": ")
		sep = ",\n  "
		if f.index != repositoriesField {
			if err := put(v.Interface(), "  "); err != nil {
				return err
			}
			continue
		}
		bw.WriteString("[")
		n := 0
		next := func() {
			if n > 0 {
				bw.WriteString(",")
			}
			bw.WriteString("\n    ")
			n++
		}
		if s := r.Spool; s != nil {
			// Spooled entries are the bytes put would write: copied as they are.
			for i := range s.len() {
				b, err := s.raw(i)
				if err != nil {
					return err
				}
				if b != nil {
					next()
					bw.Write(b)
				}
			}
		}
		for i := range r.Repositories {
			next()
			if err := put(&r.Repositories[i], "    "); err != nil {
				return err
			}
		}
		if n > 0 {
			bw.WriteString("\n  ")
		}
		bw.WriteString("]")
	}
	bw.WriteString("\n}\n")
	return bw.Flush()
}

// jsonField is one top-level field of the JSON report.
type jsonField struct {
	index     int    // in Report
	key       string // the encoded name, quotes included
	omitEmpty bool
}

// reportFields are Report's JSON fields in declaration order (the order
// encoding/json writes them); repositoriesField is the one WriteJSON
// streams.
var reportFields, repositoriesField = jsonFields(reflect.TypeFor[Report](), "Repositories")

// jsonFields reads the json tags of t's fields. It supports what Report
// uses, a name and omitempty, and panics on anything else (a new tag
// option fails every test at once instead of writing other bytes than
// encoding/json).
func jsonFields(t reflect.Type, streamed string) ([]jsonField, int) {
	var out []jsonField
	at := -1
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if !sf.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if sf.Anonymous || name == "" || (opts != "" && opts != "omitempty") {
			panic(fmt.Sprintf("report: WriteJSON cannot write %s.%s (json %q)", t.Name(), sf.Name, tag))
		}
		key, _ := json.Marshal(name)
		out = append(out, jsonField{index: i, key: string(key), omitEmpty: opts == "omitempty"})
		if sf.Name == streamed {
			at = i
		}
	}
	if at < 0 {
		panic("report: " + t.Name() + " has no field " + streamed)
	}
	return out, at
}

// emptyJSON is encoding/json's test for omitempty.
func emptyJSON(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}
