package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/cli"
	"github.com/tagsweep/tagsweep/internal/cli/clitest"
	"github.com/tagsweep/tagsweep/internal/config"
	"github.com/tagsweep/tagsweep/internal/engine"
	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/image"
	"github.com/tagsweep/tagsweep/internal/registry/oci"
	"github.com/tagsweep/tagsweep/internal/registry/vendors"
)

// load validates in as the sweep (or, list, ls) reads its inputs.
func load(t *testing.T, in inputs, list bool) *config.Config {
	t.Helper()
	c, err := config.Load(func(name string) string { return in[name] }, list, vendors.Table)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// seeded is a distribution registry with app:new, app:old, app:older (a
// day apart) and the generic backend over it.
func seeded(t *testing.T) (string, registry.Backend) {
	t.Helper()
	r := newRegistry(t)
	seedAges(t, r.Addr(), "app", "new", "old", "older")
	b, err := oci.New(r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return r.Addr(), b
}

// outside is the environment of a run outside GitHub Actions: none.
func outside(stdout, stderr *strings.Builder) cli.Env {
	return cli.Env{Getenv: func(string) string { return "" }, Stdout: stdout, Stderr: stderr}
}

// failDigestDeletes is a backend whose digest deletes fail with err.
type failDigestDeletes struct {
	registry.Backend
	err error
}

func (b failDigestDeletes) DeleteDigest(context.Context, string, string, []string) error {
	return b.err
}

// failTags is a backend that cannot list repo.
type failTags struct {
	registry.Backend
	repo string
}

func (b failTags) Tags(ctx context.Context, repo string) ([]image.Tag, error) {
	if repo == b.repo {
		return nil, errors.New("listing refused by the test")
	}
	return b.Backend.Tags(ctx, repo)
}

// Sweep with a given backend: the exit code, the step outputs and the
// summary (on stdout outside Actions), the log, for a run that deletes, a
// dry run, and a run whose deletions the backend fails, with a secret the
// backend found in its error redacted.
func TestSweepWithBackend(t *testing.T) {
	t.Parallel()
	const token = "s3cr3t-t0ken-from-the-backend"
	cases := []struct {
		name     string
		dry      bool
		wrap     func(registry.Backend) registry.Backend
		code     int
		outputs  map[string]string
		log      []string // lines the log has
		left     []string // tags left on the registry
		notInLog string
	}{
		{"deletes", false, nil, cli.ExitOK,
			map[string]string{"deleted-count": "2", "kept-count": "1", "failed-count": "0", "deleted-tags": `["app:old","app:older"]`},
			[]string{": HOST, repositories app, deleting as robot (test)", "1 repository, 3 tags: 2 deleted, 1 kept, 0 failed"},
			[]string{"new"}, ""},
		{"dry run", true, nil, cli.ExitOK,
			map[string]string{"deleted-count": "2", "kept-count": "1", "failed-count": "0", "deleted-tags": `["app:old","app:older"]`},
			[]string{": HOST, repositories app, dry run as robot (test)", "1 repository, 3 tags: 2 would be deleted, 1 kept, 0 failed"},
			[]string{"new", "old", "older"}, ""},
		{"deletions fail", false, func(b registry.Backend) registry.Backend {
			return failDigestDeletes{b, errors.New("refused for " + token)}
		}, cli.ExitFailed,
			map[string]string{"deleted-count": "0", "kept-count": "1", "failed-count": "2", "deleted-tags": `[]`},
			[]string{"error: app: refused for ***", "1 repository, 3 tags: 0 deleted, 1 kept, 2 failed"},
			[]string{"new", "old", "older"}, token},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a, b := seeded(t)
			if c.wrap != nil {
				b = c.wrap(b)
			}
			cfg := load(t, inputs{"registry": a, "repositories": "app", "keep": "1", "dry-run": map[bool]string{true: "true"}[c.dry]}, false)
			var stdout, stderr strings.Builder
			code := cli.Sweep(context.Background(), cfg, cli.Registry{Backend: b, Who: "robot (test)", Requests: func() int64 { return 42 }, Secrets: []string{token}},
				outside(&stdout, &stderr))
			if code != c.code {
				t.Errorf("exit %d, want %d\nstderr:\n%s", code, c.code, stderr.String())
			}
			got := clitest.ParseOutputs(t, stdout.String())
			for k, v := range c.outputs {
				if got[k] != v {
					t.Errorf("output %s = %q, want %q", k, got[k], v)
				}
			}
			log := strings.ReplaceAll(stderr.String(), a, "HOST")
			for _, want := range c.log {
				if !strings.Contains(log, want) {
					t.Errorf("the log has no %q:\n%s", want, log)
				}
			}
			if !strings.Contains(log, "42 requests") {
				t.Errorf("the log does not count the backend's requests:\n%s", log)
			}
			if !clitest.IsTextSummary(stdout.String()) {
				t.Errorf("stdout has no plain-text summary (outside Actions it goes there):\n%s", stdout.String())
			}
			if c.notInLog != "" && strings.Contains(stdout.String()+stderr.String(), c.notInLog) {
				t.Errorf("the backend's secret was printed:\n%s\n%s", stdout.String(), stderr.String())
			}
			if diff := cmp.Diff(c.left, listTags(t, a, "app")); diff != "" {
				t.Errorf("tags left (-want +got):\n%s", diff)
			}
		})
	}
}

// List with a given backend: a table or JSON of every tag; a repository
// the backend cannot list is an error line and exit 1, the others are
// still listed.
func TestListWithBackend(t *testing.T) {
	t.Parallel()
	a, b := seeded(t)
	seedAges(t, a, "lib", "v1")
	in := inputs{"registry": a, "repositories": "app,lib"}

	var stdout, stderr strings.Builder
	if code := cli.List(context.Background(), load(t, in, true), cli.Registry{Backend: b}, "json", outside(&stdout, &stderr)); code != cli.ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	var repos []engine.Listed
	if err := json.Unmarshal([]byte(stdout.String()), &repos); err != nil {
		t.Fatalf("ls --format json: %v\n%s", err, stdout.String())
	}
	got := map[string][]string{}
	for _, r := range repos {
		for _, tg := range r.Tags {
			got[r.Name] = append(got[r.Name], tg.Tag)
		}
	}
	if diff := cmp.Diff(map[string][]string{"app": {"new", "old", "older"}, "lib": {"v1"}}, got); diff != "" {
		t.Errorf("listed (-want +got):\n%s", diff)
	}

	stdout.Reset()
	stderr.Reset()
	code := cli.List(context.Background(), load(t, in, true), cli.Registry{Backend: failTags{b, "app"}}, "text", outside(&stdout, &stderr))
	if code != cli.ExitFailed {
		t.Errorf("exit %d, want 1 when a repository cannot be listed", code)
	}
	if !strings.Contains(stderr.String(), "error: app: ") || !strings.Contains(stderr.String(), "listing refused by the test") {
		t.Errorf("stderr does not name the repository and the error:\n%s", stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "REPOSITORY") || !strings.HasPrefix(lines[1], "lib ") {
		t.Errorf("the table is not the header and lib's tag:\n%s", stdout.String())
	}
}
