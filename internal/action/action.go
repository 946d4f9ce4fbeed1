// Package action is the GitHub Actions adapter: it reads INPUT_* inputs,
// masks secrets, writes step outputs and the job summary. It is the only
// importer of go-githubactions.
package action

import (
	"fmt"
	"io"
	"sync"

	githubactions "github.com/sethvargo/go-githubactions"

	"github.com/tagsweep/tagsweep/internal/redact"
)

// Runner is the GitHub Actions environment as seen through getenv.
type Runner struct {
	getenv  func(string) string
	a       *githubactions.Action
	masker  *githubactions.Action // writes ::add-mask:: (raw: it must carry the secret)
	secrets *redact.Set

	mu     sync.Mutex
	masked map[string]bool
}

// Option configures a Runner.
type Option func(*runnerOptions)

type runnerOptions struct {
	maskTo  io.Writer
	secrets *redact.Set
}

// WithSecrets redacts with s every value the Runner writes to the runner's
// files (step outputs, job summary), and masks each secret s learns from
// now on. The default redacts nothing.
func WithSecrets(s *redact.Set) Option { return func(o *runnerOptions) { o.secrets = s } }

// WithMaskWriter sends the `::add-mask::` commands to w instead of the
// workflow-command writer: the writer of every other output redacts
// secrets, and a mask command must reach the runner with its secret. The
// default is the writer given to New.
func WithMaskWriter(w io.Writer) Option { return func(o *runnerOptions) { o.maskTo = w } }

// New returns the adapter over getenv, writing workflow commands to w.
func New(getenv func(string) string, w io.Writer, opts ...Option) *Runner {
	o := runnerOptions{maskTo: w}
	for _, f := range opts {
		f(&o)
	}
	r := &Runner{getenv: getenv, secrets: o.secrets, masked: map[string]bool{},
		a:      githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(w)),
		masker: githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(o.maskTo))}
	o.secrets.OnAdd(r.Mask)
	return r
}

// The variables that name the files a step writes.
const (
	OutputFile  = "GITHUB_OUTPUT"
	SummaryFile = "GITHUB_STEP_SUMMARY"
)

// File is a file the runner gives the step to write.
type File struct {
	// Var is the variable that names it: OutputFile or SummaryFile.
	Var  string
	Path string
}

// Files lists the files SetOutputs and AddSummary write to (those whose
// variable is set), so that they can be checked before the run.
func (r *Runner) Files() []File {
	var out []File
	for _, v := range []string{OutputFile, SummaryFile} {
		if p := r.getenv(v); p != "" {
			out = append(out, File{Var: v, Path: p})
		}
	}
	return out
}

// InActions reports whether tagsweep runs as a GitHub Actions step.
func (r *Runner) InActions() bool {
	return r.getenv("GITHUB_ACTIONS") == "true" || r.getenv(OutputFile) != ""
}

// Input returns INPUT_<NAME> (upper case, "-" kept, as the runner sets it).
func (r *Runner) Input(name string) string { return r.a.GetInput(name) }

// Mask asks the runner to mask a secret in the logs, once per secret. Outside GitHub
// Actions it prints nothing: there, the mask command would itself leak
// the secret into the log. It is safe for concurrent use.
func (r *Runner) Mask(secret string) {
	if secret == "" || r.getenv("GITHUB_ACTIONS") != "true" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.masked[secret] {
		r.masked[secret] = true
		r.masker.AddMask(secret)
	}
}

// SetOutputs writes step outputs to GITHUB_OUTPUT, redacted. It reports
// whether it did (false outside Actions).
func (r *Runner) SetOutputs(outputs [][2]string) (bool, error) {
	if r.getenv(OutputFile) == "" {
		return false, nil
	}
	return true, guard(func() {
		for _, o := range outputs {
			r.a.SetOutput(r.secrets.String(o[0]), r.secrets.String(o[1]))
		}
	})
}

// AddSummary appends markdown to GITHUB_STEP_SUMMARY, redacted. It
// reports whether it did (false when the variable is unset).
func (r *Runner) AddSummary(markdown string) (bool, error) {
	if r.getenv(SummaryFile) == "" {
		return false, nil
	}
	return true, guard(func() { r.a.AddStepSummary(r.secrets.String(markdown)) })
}

// guard turns go-githubactions' panics on file errors into errors.
func guard(f func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	f()
	return nil
}
