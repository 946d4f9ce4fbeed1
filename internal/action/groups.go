package action

import (
	"fmt"
	"io"
	"sync"

	githubactions "github.com/sethvargo/go-githubactions"

	"github.com/tagsweep/tagsweep/internal/engine"
)

// Observer is how the engine's log is shown: in GitHub Actions as log
// groups (LogGroups), elsewhere line by line (engine.LogTo).
func (r *Runner) Observer(log io.Writer) engine.Observer {
	if r.InActions() {
		return NewLogGroups(log)
	}
	return engine.LogTo(log)
}

// LogGroups is the engine's Observer in GitHub Actions. The run's lines
// and progress go to the log as they come; each repository's lines are
// held until it is finished and then written as one log group titled with
// its outcome (go-githubactions' Group and EndGroup), so that repositories
// worked on in parallel do not interleave. It is safe for concurrent use.
type LogGroups struct {
	mu   sync.Mutex
	w    io.Writer
	a    *githubactions.Action
	held map[string][]string
}

// NewLogGroups returns the Observer that writes log groups to w.
func NewLogGroups(w io.Writer) *LogGroups {
	return &LogGroups{w: w, a: githubactions.New(githubactions.WithWriter(w)), held: map[string][]string{}}
}

// Log writes a line about the run.
func (g *LogGroups) Log(line string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fmt.Fprintln(g.w, line)
}

// Progress writes the progress line.
func (g *LogGroups) Progress(p engine.Progress) { g.Log(p.String()) }

// RepositoryLog holds a line of repo for its group.
func (g *LogGroups) RepositoryLog(repo, line string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.held[repo] = append(g.held[repo], line)
}

// RepositoryDone writes the repository's group: its outcome as the title,
// then its lines.
func (g *LogGroups) RepositoryDone(f engine.Finished) {
	g.mu.Lock()
	defer g.mu.Unlock()
	lines := g.held[f.Repository]
	delete(g.held, f.Repository)
	// A log that cannot be written loses the group, as it loses any line;
	// go-githubactions panics on it.
	_ = guard(func() {
		g.a.Group(f.String())
		for _, l := range lines {
			fmt.Fprintln(g.w, l)
		}
		g.a.EndGroup()
	})
}
