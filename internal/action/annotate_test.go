package action

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/redact"
	"github.com/tagsweep/tagsweep/internal/report"
)

// TestAnnotate: in GitHub Actions each problem is one workflow command,
// a repository's titled with its name, the run's with "tagsweep",
// warnings untitled; the secret is redacted in every form it takes, also
// where the command's escaping (":" and "," in a title, "%" and line
// breaks in a message) would hide it from the redacting writer.
func TestAnnotate(t *testing.T) {
	t.Parallel()
	const secret = "pa:ss,w%rd-9Zq"
	secrets := redact.NewSet()
	secrets.Add(secret)
	var w bytes.Buffer
	r := New(env{"GITHUB_ACTIONS": "true"}.get, &w, WithSecrets(secrets))
	rep := &report.Report{
		Errors:   []string{"catalog: 401 for token " + secret},
		Warnings: []string{"team/api: manifest sha256:cc is referenced but does not exist\nsecond line"},
		Repositories: []report.Repository{
			{Name: "team/api", Tags: []report.Tag{{Tag: "a", Error: "500 echo " + secret}, {Tag: "b", Error: "500 echo " + secret}}},
			{Name: "team/" + secret, Error: "blocked"},
		},
	}
	if err := r.Annotate(rep.Problems()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"::error title=tagsweep::catalog: 401 for token ***",
		"::error title=team/api::2 tags (a, b): 500 echo ***",
		"::error title=team/***::blocked",
		"::warning::team/api: manifest sha256:cc is referenced but does not exist%0Asecond line",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSuffix(w.String(), "\n"), "\n")); diff != "" {
		t.Errorf("annotations (-want +got):\n%s", diff)
	}
	for _, form := range []string{secret, "pa%3Ass%2Cw%25rd-9Zq", "pa:ss,w%25rd-9Zq"} {
		if strings.Contains(w.String(), form) {
			t.Errorf("the secret is in the annotations as %q:\n%s", form, w.String())
		}
	}
}

// TestAnnotateCap: GitHub shows 10 annotations of each level for a step;
// the 10th says how many more the log has, instead of GitHub dropping
// them without a word.
func TestAnnotateCap(t *testing.T) {
	t.Parallel()
	var probs []report.Problem
	for i := range 14 {
		probs = append(probs, report.Problem{Repository: fmt.Sprintf("r%d", i), Message: "boom"}, report.Problem{Warning: true, Message: fmt.Sprintf("w%d", i)})
	}
	var w bytes.Buffer
	if err := New(env{"GITHUB_ACTIONS": "true"}.get, &w).Annotate(probs); err != nil {
		t.Fatal(err)
	}
	out := w.String()
	if n := strings.Count(out, "::error "); n != MaxAnnotations {
		t.Errorf("%d error annotations, want %d:\n%s", n, MaxAnnotations, out)
	}
	if n := strings.Count(out, "::warning::"); n != MaxAnnotations {
		t.Errorf("%d warning annotations, want %d:\n%s", n, MaxAnnotations, out)
	}
	for _, want := range []string{"::error title=r8::boom\n", "::error title=tagsweep::5 more errors: see the log and the job summary\n",
		"::warning::w8\n", "::warning::5 more warnings: see the log and the job summary\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("annotations lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "title=r9::") {
		t.Errorf("an 11th error annotation:\n%s", out)
	}
}

// TestAnnotateOutsideActions: without GITHUB_ACTIONS=true nothing reads
// workflow commands, so none is written (the log lines say the same).
func TestAnnotateOutsideActions(t *testing.T) {
	t.Parallel()
	var w bytes.Buffer
	if err := New(env{"GITHUB_OUTPUT": "/tmp/x"}.get, &w).Annotate([]report.Problem{{Message: "boom"}}); err != nil || w.Len() != 0 {
		t.Errorf("Annotate outside Actions wrote %q (err %v)", w.String(), err)
	}
}
