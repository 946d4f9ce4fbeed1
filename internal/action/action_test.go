package action

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/redact"
)

// env is a fake environment for getenv.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// parseOutputs reads a GITHUB_OUTPUT file the way the runner does:
// `name=value` lines and `name<<DELIM` … `DELIM` blocks.
func parseOutputs(t *testing.T, s string) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := sc.Text()
		if name, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(name, "=") {
			var val []string
			closed := false
			for sc.Scan() {
				if sc.Text() == delim {
					closed = true
					break
				}
				val = append(val, sc.Text())
			}
			if !closed {
				t.Fatalf("output %q: delimiter %q never closed in:\n%s", name, delim, s)
			}
			out[name] = strings.Join(val, "\n")
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("line %q is neither name=value nor name<<DELIM", line)
		}
		out[name] = val
	}
	return out
}

func TestInput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		env   env
		input string
		want  string
	}{
		{name: "plain", env: env{"INPUT_REGISTRY": "ghcr.io"}, input: "registry", want: "ghcr.io"},
		{name: "dash kept", env: env{"INPUT_OLDER-THAN": "30d"}, input: "older-than", want: "30d"},
		{name: "underscore form is not read", env: env{"INPUT_OLDER_THAN": "30d"}, input: "older-than", want: ""},
		{name: "upper-cased", env: env{"INPUT_DRY-RUN": "true"}, input: "dry-run", want: "true"},
		{name: "unset", env: env{}, input: "keep", want: ""},
		{name: "set empty by the runner", env: env{"INPUT_KEEP": ""}, input: "keep", want: ""},
		{name: "multi-line list", env: env{"INPUT_EXCLUDE-TAGS": "latest\nrelease-*"}, input: "exclude-tags", want: "latest\nrelease-*"},
		{name: "surrounding whitespace trimmed", env: env{"INPUT_KEEP": "  5\n"}, input: "keep", want: "5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var w bytes.Buffer
			r := New(tc.env.get, &w)
			if diff := cmp.Diff(tc.want, r.Input(tc.input)); diff != "" {
				t.Errorf("Input(%q) (-want +got):\n%s", tc.input, diff)
			}
			if w.Len() != 0 {
				t.Errorf("Input wrote %q", w.String())
			}
		})
	}
}

func TestInActions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  env
		want bool
	}{
		{name: "runner", env: env{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": "/x"}, want: true},
		{name: "GITHUB_ACTIONS only", env: env{"GITHUB_ACTIONS": "true"}, want: true},
		{name: "GITHUB_OUTPUT only", env: env{"GITHUB_OUTPUT": "/x"}, want: true},
		{name: "nothing", env: env{}, want: false},
		{name: "GITHUB_ACTIONS false", env: env{"GITHUB_ACTIONS": "false"}, want: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := New(tc.env.get, &bytes.Buffer{}).InActions(); got != tc.want {
				t.Errorf("InActions() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSetOutputs(t *testing.T) {
	t.Parallel()
	deleted, _ := json.Marshal([]string{"app:v1", "team/api:pr-12", `odd:"quoted"`})
	outputs := [][2]string{
		{"deleted-count", "3"},
		{"kept-count", "10"},
		{"failed-count", "0"},
		{"deleted-tags", string(deleted)},
		{"reclaimed-bytes", "1048576"},
		{"report-file", ""},
		{"multi-line", "first\nsecond=2\nthird<<x"},
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "output")
	if err := os.WriteFile(file, []byte("earlier=step\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	r := New(env{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": file}.get, &w)
	ok, err := r.SetOutputs(outputs)
	if !ok || err != nil {
		t.Fatalf("SetOutputs = %v, %v; want true, nil", ok, err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"earlier": "step"}
	for _, o := range outputs {
		want[o[0]] = o[1]
	}
	got := parseOutputs(t, string(b))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GITHUB_OUTPUT as the runner reads it (-want +got):\n%s\nfile:\n%s", diff, b)
	}
	var tags []string
	if err := json.Unmarshal([]byte(got["deleted-tags"]), &tags); err != nil {
		t.Errorf("deleted-tags does not parse as JSON: %v", err)
	}
	if w.Len() != 0 {
		t.Errorf("SetOutputs wrote workflow commands to stdout: %q", w.String())
	}
}

func TestAddSummary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "summary")
	var w bytes.Buffer
	r := New(env{"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": file}.get, &w)
	for _, md := range []string{"## tagsweep\n\n| a | b |\n|---|---|\n", "> done"} {
		if ok, err := r.AddSummary(md); !ok || err != nil {
			t.Fatalf("AddSummary = %v, %v; want true, nil", ok, err)
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("## tagsweep\n\n| a | b |\n|---|---|\n\n> done\n", string(b)); diff != "" {
		t.Errorf("GITHUB_STEP_SUMMARY (-want +got):\n%s", diff)
	}
	if w.Len() != 0 {
		t.Errorf("AddSummary wrote to stdout: %q", w.String())
	}
}

// TestNothingWrittenOutsideActions is not parallel: it changes the
// working directory, where a file named by an empty variable would land.
func TestNothingWrittenOutsideActions(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var w bytes.Buffer
	r := New(env{}.get, &w)
	if ok, err := r.SetOutputs([][2]string{{"deleted-count", "1"}}); ok || err != nil {
		t.Errorf("SetOutputs outside Actions = %v, %v; want false, nil", ok, err)
	}
	if ok, err := r.AddSummary("## tagsweep"); ok || err != nil {
		t.Errorf("AddSummary outside Actions = %v, %v; want false, nil", ok, err)
	}
	r.Mask("s3cret")
	if w.Len() != 0 {
		t.Errorf("wrote %q outside Actions", w.String())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("files created outside Actions: %v", entries)
	}
}

func TestWriteErrorsAreErrors(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "no", "such", "dir", "file")
	r := New(env{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": missing, "GITHUB_STEP_SUMMARY": missing}.get, &bytes.Buffer{})
	if ok, err := r.SetOutputs([][2]string{{"deleted-count", "1"}}); !ok || err == nil {
		t.Errorf("SetOutputs to an unwritable file = %v, %v; want true and an error", ok, err)
	}
	if ok, err := r.AddSummary("x"); !ok || err == nil {
		t.Errorf("AddSummary to an unwritable file = %v, %v; want true and an error", ok, err)
	}
}

func TestMask(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		env    env
		secret string
		want   string
	}{
		{name: "in Actions", env: env{"GITHUB_ACTIONS": "true"}, secret: "s3cret", want: "::add-mask::s3cret\n"},
		{name: "in Actions, empty secret", env: env{"GITHUB_ACTIONS": "true"}, secret: "", want: ""},
		{name: "outside Actions", env: env{}, secret: "s3cret", want: ""},
		{name: "GITHUB_ACTIONS not true", env: env{"GITHUB_ACTIONS": "1"}, secret: "s3cret", want: ""},
		{name: "GITHUB_OUTPUT without GITHUB_ACTIONS", env: env{"GITHUB_OUTPUT": "/x"}, secret: "s3cret", want: ""},
		{name: "multi-line secret stays one command", env: env{"GITHUB_ACTIONS": "true"}, secret: "line1\nline2", want: "::add-mask::line1%0Aline2\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var w bytes.Buffer
			New(tc.env.get, &w).Mask(tc.secret)
			if diff := cmp.Diff(tc.want, w.String()); diff != "" {
				t.Errorf("Mask output (-want +got):\n%s", diff)
			}
		})
	}
}

// Files names the files the step will write, and only those that are set.
func TestFiles(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  env
		want []File
	}{
		{"both", env{"GITHUB_OUTPUT": "/o", "GITHUB_STEP_SUMMARY": "/s"}, []File{{OutputFile, "/o"}, {SummaryFile, "/s"}}},
		{"summary only", env{"GITHUB_STEP_SUMMARY": "/s"}, []File{{SummaryFile, "/s"}}},
		{"outside Actions", env{"GITHUB_ACTIONS": "true"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, New(tc.env.get, &bytes.Buffer{}).Files()); diff != "" {
				t.Errorf("Files() (-want +got):\n%s", diff)
			}
		})
	}
}

// With a redactor, what the Runner writes to GITHUB_OUTPUT and
// GITHUB_STEP_SUMMARY is redacted, each secret the set learns is masked
// once, and the mask commands go to the mask writer, not the redacted one.
func TestSecrets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, sum := filepath.Join(dir, "output"), filepath.Join(dir, "summary")
	set := redact.NewSet()
	var w, raw bytes.Buffer
	r := New(env{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": out, "GITHUB_STEP_SUMMARY": sum}.get, &w,
		WithSecrets(set), WithMaskWriter(&raw))
	set.Add("bearer-tok-1")
	set.AddBasic("bob", "pw-s3cret")
	set.Add("bearer-tok-1")
	r.Mask("pw-s3cret")
	if ok, err := r.SetOutputs([][2]string{{"deleted-tags", `["app:bearer-tok-1"]`}, {"report-file", "/tmp/pw-s3cret\nx"}}); !ok || err != nil {
		t.Fatalf("SetOutputs = %v, %v", ok, err)
	}
	if ok, err := r.AddSummary("error: Authorization: Basic Ym9iOnB3LXMzY3JldA== (bob:pw-s3cret)"); !ok || err != nil {
		t.Fatalf("AddSummary = %v, %v", ok, err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"deleted-tags": `["app:***"]`, "report-file": "/tmp/***\nx"}, parseOutputs(t, string(b))); diff != "" {
		t.Errorf("GITHUB_OUTPUT (-want +got):\n%s", diff)
	}
	b, err = os.ReadFile(sum)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("error: Authorization: Basic *** (bob:***)\n", string(b)); diff != "" {
		t.Errorf("GITHUB_STEP_SUMMARY (-want +got):\n%s", diff)
	}
	// The URL-safe forms of this pair are the standard ones: masked once.
	wantMasks := "::add-mask::bearer-tok-1\n::add-mask::pw-s3cret\n::add-mask::Ym9iOnB3LXMzY3JldA==\n::add-mask::Ym9iOnB3LXMzY3JldA\n"
	if diff := cmp.Diff(wantMasks, raw.String()); diff != "" {
		t.Errorf("mask commands (-want +got):\n%s", diff)
	}
	if w.Len() != 0 {
		t.Errorf("wrote %q to the workflow-command writer", w.String())
	}
}
