package report

import (
	"fmt"
	"strings"
)

// Problem is one error or warning of a run, as the log and GitHub's
// workflow annotations say it: the run's own, a repository's own, or one
// message shared by some tags of a repository.
type Problem struct {
	// Warning is set for a warning (the run did not fail for it).
	Warning bool
	// Repository is the repository it concerns; "" is the run.
	Repository string
	// Tags are the tags of Repository that failed with Message; none for
	// the repository's own error.
	Tags []string
	// Message is what went wrong.
	Message string
}

// Detail is the problem without its repository: "msg", "v1: msg" or
// "3 tags (v1, v2, v3): msg" (the first three named, then how many more).
func (p Problem) Detail() string {
	switch len(p.Tags) {
	case 0:
		return p.Message
	case 1:
		return p.Tags[0] + ": " + p.Message
	}
	return fmt.Sprintf("%d tags (%s): %s", len(p.Tags), nameFew(p.Tags, 3), p.Message)
}

// String is the problem as a log line says it, after "error: " or
// "warning: ": "team/api:v1: msg", "team/api: 3 tags (…): msg".
func (p Problem) String() string {
	switch {
	case p.Repository == "":
		return p.Message
	case len(p.Tags) == 1:
		return p.Repository + ":" + p.Detail()
	}
	return p.Repository + ": " + p.Detail()
}

// Problems lists what went wrong: the run's errors, then each
// repository's own error and its tags' errors, one problem per message
// (a blocked repository of 10k tags is one problem naming a few, not 10k),
// then the warnings. A tag error that repeats the run's or its
// repository's error is not said again. The report and the summary still
// have every tag.
func (r *Report) Problems() []Problem {
	var out []Problem
	said := map[string]bool{}
	for _, msg := range r.Errors {
		out = append(out, Problem{Message: msg})
		said[msg] = true
	}
	_ = r.Each(func(repo *Repository) error {
		if repo.Error != "" {
			out = append(out, Problem{Repository: repo.Name, Message: repo.Error})
		}
		var order []string
		tags := map[string][]string{}
		for _, t := range repo.Tags {
			if t.Error == "" || said[t.Error] || t.Error == repo.Error {
				continue
			}
			if tags[t.Error] == nil {
				order = append(order, t.Error)
			}
			tags[t.Error] = append(tags[t.Error], t.Tag)
		}
		for _, msg := range order {
			out = append(out, Problem{Repository: repo.Name, Tags: tags[msg], Message: msg})
		}
		return nil
	})
	_ = r.Each(func(repo *Repository) error {
		if n := len(repo.StillStored); n > 0 {
			out = append(out, Problem{Warning: true, Repository: repo.Name,
				Message: fmt.Sprintf("%s untagged but not deleted, still stored and not counted as reclaimed: %s", Count(n, "manifest"), repo.StillStored[0].Reason)})
		}
		return nil
	})
	for _, w := range r.Warnings {
		out = append(out, Problem{Warning: true, Message: w})
	}
	return out
}

// nameFew joins up to n names and says how many more there are.
func nameFew(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}
