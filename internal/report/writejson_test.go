package report

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// encodeWhole is the reference WriteJSON must equal byte for byte: the
// whole report through one json.Encoder (nil repositories written as []).
func encodeWhole(t *testing.T, r *Report) string {
	t.Helper()
	c := *r
	if c.Repositories == nil {
		c.Repositories = []Repository{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&c); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// checkWriteJSON: WriteJSON writes the reference bytes, and they decode
// back to the report.
func checkWriteJSON(t *testing.T, r *Report) {
	t.Helper()
	var got bytes.Buffer
	if err := r.WriteJSON(&got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(encodeWhole(t, r), got.String()); diff != "" {
		t.Errorf("WriteJSON differs from encoding the whole report (-whole +WriteJSON):\n%s", diff)
	}
	var back Report
	if err := json.Unmarshal(got.Bytes(), &back); err != nil {
		t.Fatalf("WriteJSON output does not decode: %v\n%s", err, got.String())
	}
	want := *r
	if want.Repositories == nil {
		want.Repositories = []Repository{}
	}
	if diff := cmp.Diff(&want, &back); diff != "" {
		t.Errorf("decoded report (-want +got):\n%s", diff)
	}
}

// An empty policy list encodes as `"repositories": []` inside "policy",
// before the report's own repositories: WriteJSON used to splice the
// repositories in there, and the report did not decode.
func TestWriteJSONEmptyPolicyList(t *testing.T) {
	t.Parallel()
	for name, policyRepos := range map[string][]string{"empty": {}, "nil": nil} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := sample(false)
			r.Policy.Repositories = policyRepos
			checkWriteJSON(t, r)
			var raw struct {
				Policy       struct{ Repositories json.RawMessage }
				Repositories []struct{ Name string }
			}
			var b bytes.Buffer
			if err := r.WriteJSON(&b); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b.Bytes(), &raw); err != nil {
				t.Fatalf("does not decode: %v", err)
			}
			if got, want := len(raw.Repositories), len(r.Repositories); got != want {
				t.Errorf("top-level repositories: %d, want %d", got, want)
			}
			if s := string(raw.Policy.Repositories); s != "[]" && s != "null" {
				t.Errorf("policy.repositories = %s, want the empty policy list", s)
			}
		})
	}
}

// fill sets every field reachable from v to a value that is not empty,
// so a field added to Report (or to what it holds) that WriteJSON would
// write differently, or drop, shows up here without editing the test.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(`"repositories": [] <&> ` + strings.Repeat("x", *n%5))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(*n) + 0.5)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), n)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, n)
		fill(e, n)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(started.Add(time.Duration(*n) * time.Second)))
			return
		}
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() && f.Tag.Get("json") != "-" {
				fill(v.Field(i), n)
			}
		}
	default:
		panic("fill: add a case for " + v.Kind().String())
	}
}

// WriteJSON streams per repository yet writes exactly what encoding the
// whole report at once writes: every field of the report, set or empty.
func TestWriteJSONEveryField(t *testing.T) {
	t.Parallel()
	var full Report
	n := 0
	fill(reflect.ValueOf(&full).Elem(), &n)
	for name, r := range map[string]*Report{
		"every field set": &full, "zero": {}, "no repositories": {Registry: "empty", Repositories: []Repository{}},
		"sample": sample(false), "sample dry run": sample(true),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			checkWriteJSON(t, r)
		})
	}
}

// FuzzWriteJSON: whatever the names, messages and lists hold, WriteJSON
// writes what encoding the whole report writes, and it decodes back.
func FuzzWriteJSON(f *testing.F) {
	f.Add("registry.example.com", "", "app", "v1", "", 1, true)
	f.Add(`"repositories": []`, `"repositories": []`, `"repositories": [],`, `]}`, `{"name": "x"}`, 3, false)
	f.Add("r", "team/**\napp", "a\u2028b", "<tag>&", "line\nbreak\t\x00", 0, true)
	f.Add("\xff", ",,", "", "", "\"", 2, false)
	f.Fuzz(func(t *testing.T, registry, policyRepos, repo, tag, msg string, repos int, dry bool) {
		r := &Report{Registry: registry, DryRun: dry, StartedAt: started, FinishedAt: finished,
			Policy: Policy{Repositories: strings.Split(policyRepos, "\n"), IncludeTags: []string{tag}, OlderThan: msg}}
		if policyRepos == "" {
			r.Policy.Repositories = []string{}
		}
		for i := range repos % 4 {
			r.Repositories = append(r.Repositories, Repository{Name: repo + strings.Repeat("/", i), Error: msg,
				Tags: []Tag{{Tag: tag, Digest: msg, Action: Kept, Reason: msg, Created: &started}}})
		}
		if msg != "" {
			r.Errors, r.Warnings, r.GCHint = []string{msg}, []string{repo}, tag
		}
		r.Tally()
		// Invalid UTF-8 is written as U+FFFD by both encodings; the
		// decoded report then differs from r, so compare bytes only.
		var got bytes.Buffer
		if err := r.WriteJSON(&got); err != nil {
			t.Fatal(err)
		}
		if want := encodeWhole(t, r); got.String() != want {
			t.Fatalf("WriteJSON differs from encoding the whole report:\n%s\nwant:\n%s", got.String(), want)
		}
		if !json.Valid(got.Bytes()) {
			t.Fatalf("WriteJSON output is not JSON:\n%s", got.String())
		}
		var back Report
		if err := json.Unmarshal(got.Bytes(), &back); err != nil {
			t.Fatal(err)
		}
		if len(back.Repositories) != len(r.Repositories) || len(back.Policy.Repositories) != len(r.Policy.Repositories) {
			t.Errorf("decoded %d repositories and %d policy globs, want %d and %d",
				len(back.Repositories), len(back.Policy.Repositories), len(r.Repositories), len(r.Policy.Repositories))
		}
	})
}
