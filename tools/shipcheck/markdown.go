package shipcheck

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Block is a fenced code block of a markdown file.
type Block struct {
	Lang string // the first word of the info string ("yaml")
	Line int    // 1-based line of the opening fence
	Text string
}

// Blocks returns the fenced code blocks (``` or ~~~) of a markdown file, in
// order. An unclosed fence is an error: the rest of the file would be code.
func Blocks(md []byte) ([]Block, error) {
	var (
		blocks []Block
		cur    *Block
		fence  string
		body   strings.Builder
		n      int
	)
	sc := bufio.NewScanner(bytes.NewReader(md))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		if cur == nil {
			for _, f := range []string{"```", "~~~"} {
				if strings.HasPrefix(trimmed, f) {
					fence = f
					info := strings.Fields(strings.TrimLeft(trimmed, f[:1]))
					cur = &Block{Line: n}
					if len(info) > 0 {
						cur.Lang = info[0]
					}
					body.Reset()
					break
				}
			}
			continue
		}
		if strings.HasPrefix(trimmed, fence) && strings.TrimSpace(strings.TrimLeft(trimmed, fence[:1])) == "" {
			cur.Text = body.String()
			blocks = append(blocks, *cur)
			cur = nil
			continue
		}
		body.WriteString(line)
		body.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: code block never closed", cur.Line)
	}
	return blocks, nil
}

// Kind is what a README YAML block is, decided by its shape alone.
type Kind int

// The kinds of README YAML blocks.
const (
	// Workflow is a whole GitHub workflow: top-level `on` and `jobs`.
	Workflow Kind = iota + 1
	// Jobs is a workflow's `jobs:` map without its trigger.
	Jobs
	// Steps is a list of workflow steps (each with `uses` or `run`).
	Steps
	// Kubernetes is one or more Kubernetes objects (`apiVersion` and `kind`).
	Kubernetes
	// GitLab is a .gitlab-ci.yml fragment: its first line is the comment
	// `# .gitlab-ci.yml`.
	GitLab
	// PolicyFile is a tagsweep policy file (the policy-file input): one
	// top-level key, `rules` (internal/config checks it against the
	// parser and schema/policy-file.schema.json).
	PolicyFile
)

func (k Kind) String() string {
	switch k {
	case Workflow:
		return "workflow"
	case Jobs:
		return "jobs"
	case Steps:
		return "steps"
	case Kubernetes:
		return "kubernetes"
	case GitLab:
		return "gitlab"
	case PolicyFile:
		return "policy file"
	}
	return "unknown"
}

// GitLabMarker is the first line that makes a README YAML block a GitLab
// CI fragment.
const GitLabMarker = "# .gitlab-ci.yml"

// Classify says what a README YAML block is. A block of none of the kinds is
// an error, so that no example escapes every check.
func Classify(text string) (Kind, error) {
	if first, _, _ := strings.Cut(strings.TrimLeft(text, "\n"), "\n"); strings.TrimSpace(first) == GitLabMarker {
		return GitLab, nil
	}
	// YAML 1.2 (yaml/v3), as GitHub reads it: `on` is a key, not true.
	var v any
	if err := yaml.Unmarshal([]byte(text), &v); err != nil {
		return 0, fmt.Errorf("not YAML: %w", err)
	}
	switch v := v.(type) {
	case []any:
		for i, s := range v {
			m, ok := s.(map[string]any)
			if !ok || (m["uses"] == nil && m["run"] == nil) {
				return 0, fmt.Errorf("a list, but item %d is not a workflow step (uses or run)", i+1)
			}
		}
		if len(v) == 0 {
			return 0, fmt.Errorf("an empty list")
		}
		return Steps, nil
	case map[string]any:
		_, hasOn := v["on"]
		_, hasJobs := v["jobs"]
		switch {
		case v["apiVersion"] != nil && v["kind"] != nil:
			return Kubernetes, nil
		case hasOn && hasJobs:
			return Workflow, nil
		case hasJobs && len(v) == 1:
			return Jobs, nil
		case v["rules"] != nil && len(v) == 1:
			return PolicyFile, nil
		}
	}
	return 0, fmt.Errorf("neither a workflow, its jobs or steps, Kubernetes objects, a policy file (rules:), nor a GitLab fragment (first line %q)", GitLabMarker)
}

// WrapWorkflow makes a whole workflow of a Jobs or Steps block, so that
// actionlint checks it as GitHub would: jobs get an `on: workflow_dispatch`
// trigger, steps a job on ubuntu-latest. A Workflow is returned as it is.
func WrapWorkflow(kind Kind, text string) (string, error) {
	switch kind {
	case Workflow:
		return text, nil
	case Jobs:
		return "on: workflow_dispatch\n" + text, nil
	case Steps:
		var b strings.Builder
		b.WriteString("on: workflow_dispatch\njobs:\n  readme:\n    runs-on: ubuntu-latest\n    steps:\n")
		for _, line := range strings.SplitAfter(text, "\n") {
			if strings.TrimSpace(line) != "" {
				b.WriteString("      ")
			}
			b.WriteString(line)
		}
		return b.String(), nil
	}
	return "", fmt.Errorf("a %s block is not a GitHub workflow", kind)
}
