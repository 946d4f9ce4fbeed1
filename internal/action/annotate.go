package action

import (
	"fmt"

	"github.com/tagsweep/tagsweep/internal/report"
)

// MaxAnnotations is how many annotations of one level (errors, warnings)
// GitHub shows for a step: 10 of each, the rest dropped without a word
// (github.com/orgs/community/discussions/26680 and 68471). Annotate writes
// at most that many, the last one saying how many more the log has.
const MaxAnnotations = 10

// Annotate writes the run's problems as workflow annotations, which GitHub
// shows on the run's page and in the checks of a pull request:
// `::error title=team/api::3 tags (a, b, c): …` for a repository's,
// `::error title=tagsweep::…` for the run's own, `::warning::…` for a
// warning. Each is redacted before go-githubactions escapes it (an escaped
// secret would no longer match the redactor of the output stream). Only
// in GitHub Actions (GITHUB_ACTIONS=true); elsewhere the log lines say the
// same and nothing reads these commands.
func (r *Runner) Annotate(problems []report.Problem) error {
	if r.getenv("GITHUB_ACTIONS") != "true" {
		return nil
	}
	var errs, warns []report.Problem
	for _, p := range problems {
		if p.Warning {
			warns = append(warns, p)
		} else {
			errs = append(errs, p)
		}
	}
	return guard(func() {
		for i, p := range errs {
			if i == MaxAnnotations-1 && len(errs) > MaxAnnotations {
				r.a.WithFieldsMap(map[string]string{"title": "tagsweep"}).Errorf("%s",
					fmt.Sprintf("%d more errors: see the log and the job summary", len(errs)-i))
				break
			}
			title := "tagsweep"
			if p.Repository != "" {
				title = r.secrets.String(p.Repository)
			}
			r.a.WithFieldsMap(map[string]string{"title": title}).Errorf("%s", r.secrets.String(p.Detail()))
		}
		for i, p := range warns {
			if i == MaxAnnotations-1 && len(warns) > MaxAnnotations {
				r.a.Warningf("%s", fmt.Sprintf("%d more warnings: see the log and the job summary", len(warns)-i))
				break
			}
			r.a.Warningf("%s", r.secrets.String(p.String()))
		}
	})
}
