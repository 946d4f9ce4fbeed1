package shipcheck

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// lint runs actionlint over one workflow as if it were the file path of this
// repository: local actions (`uses: ./`) resolve to the repository's
// action.yml, so their `with:` keys are checked against its inputs. shellcheck
// checks the run: scripts where it is installed (.ci/run installs it and sets
// TAGSWEEP_REQUIRE_SHELLCHECK=1, so that CI cannot skip it).
func lint(t *testing.T, path string, content []byte) []*actionlint.Error {
	t.Helper()
	root, err := filepath.Abs(Root)
	if err != nil {
		t.Fatal(err)
	}
	proj, err := actionlint.NewProject(root)
	if err != nil {
		t.Fatal(err)
	}
	opts := &actionlint.LinterOptions{LogWriter: io.Discard}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		opts.Shellcheck = sc
	} else if os.Getenv("TAGSWEEP_REQUIRE_SHELLCHECK") == "1" {
		t.Fatal("TAGSWEEP_REQUIRE_SHELLCHECK=1 but shellcheck is not on PATH")
	}
	l, err := actionlint.NewLinter(io.Discard, opts)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.Lint(filepath.Join(root, filepath.FromSlash(path)), content, proj)
	if err != nil {
		t.Fatalf("actionlint %s: %v", path, err)
	}
	return errs
}

func report(t *testing.T, name string, errs []*actionlint.Error, src string) {
	t.Helper()
	for _, e := range errs {
		t.Errorf("%s:%d:%d: %s [%s]", name, e.Line, e.Column, e.Message, e.Kind)
	}
	if len(errs) > 0 && src != "" {
		t.Logf("%s as linted:\n%s", name, src)
	}
}

// Every workflow passes actionlint.
func TestWorkflowsLint(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(Root, ".github", "workflows", "*.y*ml"))
	if err != nil || len(files) < 2 {
		t.Fatalf("workflows: %v %v (want ci.yml and release.yml at least)", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel := ".github/workflows/" + filepath.Base(f)
		report(t, rel, lint(t, rel, b), "")
	}
}

// readmeWorkflow turns a README block into the workflow actionlint checks:
// wrapped (WrapWorkflow), and `uses: tagsweep/tagsweep@<ref>` pointed at
// this checkout (`./`), so that actionlint checks its `with:` against
// action.yml's inputs.
func readmeWorkflow(kind Kind, text string) (string, error) {
	w, err := WrapWorkflow(kind, text)
	if err != nil {
		return "", err
	}
	var out []string
	for _, line := range strings.SplitAfter(w, "\n") {
		if i := strings.Index(line, "uses: tagsweep/tagsweep@"); i >= 0 {
			rest := line[i+len("uses: tagsweep/tagsweep@"):]
			ref, tail, _ := strings.Cut(rest, " ")
			ref = strings.TrimRight(ref, "\n")
			if ref == "" {
				return "", fmt.Errorf("%q names no ref", strings.TrimSpace(line))
			}
			line = line[:i] + "uses: ./" + strings.TrimPrefix(" "+tail, " ")
			if !strings.HasSuffix(line, "\n") {
				line += "\n"
			}
		}
		out = append(out, line)
	}
	return strings.Join(out, ""), nil
}

// readmeBlocks returns README's YAML blocks with their kinds; a block of no
// known kind fails the test.
func readmeBlocks(t *testing.T) ([]Block, []Kind) {
	t.Helper()
	md, err := Read("README.md")
	if err != nil {
		t.Fatal(err)
	}
	all, err := Blocks(md)
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	var blocks []Block
	var kinds []Kind
	for _, b := range all {
		if b.Lang != "yaml" && b.Lang != "yml" {
			continue
		}
		k, err := Classify(b.Text)
		if err != nil {
			t.Errorf("README.md:%d: %v", b.Line, err)
			continue
		}
		blocks, kinds = append(blocks, b), append(kinds, k)
	}
	return blocks, kinds
}

// Every README YAML block that is a workflow, its jobs or its steps passes
// actionlint, wrapped into a whole workflow (README "Contributing" documents
// the wrapping).
func TestREADMEWorkflowsLint(t *testing.T) {
	t.Parallel()
	blocks, kinds := readmeBlocks(t)
	n := 0
	for i, b := range blocks {
		switch kinds[i] {
		case Workflow, Jobs, Steps:
		default:
			continue
		}
		n++
		w, err := readmeWorkflow(kinds[i], b.Text)
		if err != nil {
			t.Errorf("README.md:%d: %v", b.Line, err)
			continue
		}
		name := "README.md:" + strconv.Itoa(b.Line) + " (" + kinds[i].String() + ")"
		report(t, name, lint(t, ".github/workflows/readme.yml", []byte(w)), w)
	}
	if n < 4 {
		t.Errorf("README has %d workflow blocks; want the uses:, retention, matrix and install examples at least", n)
	}
}

// The README check fails on broken examples: an input action.yml does not
// declare, a step missing the required registry, a bad expression, a
// workflow without runs-on, and a block that is no kind at all.
func TestREADMELintCatches(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, block, want string
	}{
		{"unknown input", "- uses: tagsweep/tagsweep@v1\n  with:\n    registry: r.example.com\n    olderthan: 30d\n", "olderthan"},
		{"with on a run step", "- run: true\n  with: {keep: 3}\n", "with"},
		{"bad expression", "- run: echo ${{ github.evnt_name }}\n", "evnt_name"},
		{"output of no step", "- uses: tagsweep/tagsweep@v1\n  with: {registry: r.example.com}\n- run: echo ${{ steps.sweep.outputs.deleted-count }}\n", "sweep"},
		{"jobs without runs-on", "jobs:\n  sweep:\n    steps:\n      - run: true\n", "runs-on"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			k, err := Classify(c.block)
			if err != nil {
				t.Fatal(err)
			}
			w, err := readmeWorkflow(k, c.block)
			if err != nil {
				t.Fatal(err)
			}
			errs := lint(t, ".github/workflows/readme.yml", []byte(w))
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Message)
			}
			if !strings.Contains(strings.Join(msgs, "\n"), c.want) {
				t.Errorf("actionlint on\n%s\nsaid %q; want an error naming %q", w, msgs, c.want)
			}
		})
	}
	if _, err := Classify("registry-retention:\n  script: [tagsweep]\n"); err == nil {
		t.Error("a GitLab job without the marker line was classified; want an error")
	}
}

// A broken workflow file fails TestWorkflowsLint's check.
func TestWorkflowLintCatches(t *testing.T) {
	t.Parallel()
	w := "on: {push: {tags: ['v*']}}\njobs:\n  release:\n    runs-on: ubuntu-latest\n    permissions: {id-token: writ}\n    steps:\n      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1\n"
	if errs := lint(t, ".github/workflows/broken.yml", []byte(w)); len(errs) == 0 {
		t.Errorf("actionlint found nothing wrong in\n%s", w)
	}
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Log("shellcheck not installed: run: scripts unchecked here")
		return
	}
	w = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: |\n          for f in $(ls dist); do echo $f; done\n"
	errs := lint(t, ".github/workflows/broken.yml", []byte(w))
	if len(errs) == 0 || !strings.Contains(errs[0].Message, "shellcheck") {
		t.Errorf("shellcheck found nothing wrong in\n%s (errors %v)", w, errs)
	}
}
