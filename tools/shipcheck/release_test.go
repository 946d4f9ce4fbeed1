package shipcheck

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func workflows(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(Root, ".github", "workflows", "*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m[".github/workflows/"+filepath.Base(f)] = b
	}
	return m
}

// Every action in every workflow is pinned by commit SHA with its version in
// a comment, one pin per action across the workflows.
func TestActionsPinned(t *testing.T) {
	t.Parallel()
	all := map[string][]Pin{}
	for name, w := range workflows(t) {
		pins, errs := Pins(w)
		for _, err := range errs {
			t.Errorf("%s: %v", name, err)
		}
		all[name] = pins
	}
	for _, err := range ConsistentPins(all) {
		t.Error(err)
	}
	if len(all[".github/workflows/release.yml"]) < 8 {
		t.Errorf("release.yml: %d pinned actions found; the parser missed some", len(all[".github/workflows/release.yml"]))
	}
}

func TestPinsCatch(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, line, want string }{
		{"tag", "      - uses: actions/checkout@v4", "not pinned"},
		{"short sha", "      - uses: actions/checkout@3d3c42e", "not pinned"},
		{"no comment", "      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1", "version as the comment"},
		{"comment not a version", "      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # latest", "version as the comment"},
		{"docker by tag", "      - uses: docker://alpine:3", "by digest"},
		{"quoted tag", "    uses: 'octo/reusable/.github/workflows/x.yml@main'", "not pinned"},
	} {
		_, errs := Pins([]byte("steps:\n" + c.line + "\n"))
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), c.want) {
			t.Errorf("%s: Pins(%q) = %v, want an error with %q", c.name, c.line, errs, c.want)
		}
	}
	pins, errs := Pins([]byte("- uses: ./\n- uses: anchore/sbom-action/download-syft@e22c389904149dbc22b58101806040fa8d37a610 # v0.24.0\n"))
	if len(errs) != 0 || len(pins) != 1 || pins[0].Action != "anchore/sbom-action/download-syft" || pins[0].Version != "v0.24.0" {
		t.Errorf("good pins: %v %v", pins, errs)
	}
	a := Pin{Line: 3, Action: "actions/checkout", SHA: strings.Repeat("a", 40), Version: "v7.0.1"}
	b := Pin{Line: 9, Action: "actions/checkout", SHA: strings.Repeat("b", 40), Version: "v7.0.0"}
	if errs := ConsistentPins(map[string][]Pin{"ci.yml": {a}, "release.yml": {b}}); len(errs) != 1 {
		t.Errorf("two pins of actions/checkout: %v, want one error", errs)
	}
}

// runScript runs .github/scripts/release-action-yml.sh as release.yml does.
func runScript(t *testing.T, args ...string) (string, error) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join(Root, ".github", "scripts", "release-action-yml.sh"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", append([]string{script}, args...)...).CombinedOutput()
	return string(out), err
}

// action.yml on main builds the Dockerfile; the release's rewrite (the script
// release.yml runs) makes it name the image GoReleaser pushes, under the tag
// being released, and changes nothing else.
func TestReleaseActionYml(t *testing.T) {
	t.Parallel()
	main := mustRead(t, "action.yml")
	var a struct {
		Runs struct{ Using, Image string } `json:"runs"`
	}
	if err := yaml.Unmarshal(main, &a); err != nil {
		t.Fatal(err)
	}
	if a.Runs.Using != "docker" || a.Runs.Image != "Dockerfile" {
		t.Fatalf("action.yml on main: runs %+v, want docker, Dockerfile (the development build; the release commit names the image)", a.Runs)
	}
	img, err := ReleaseImage(mustRead(t, ".github/workflows/release.yml"))
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "action.yml")
	if err := os.WriteFile(f, main, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runScript(t, "v1.2.3", img, f); err != nil {
		t.Fatalf("release-action-yml.sh: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(f)
	if err := yaml.Unmarshal(got, &a); err != nil {
		t.Fatal(err)
	}
	if want := "docker://" + img + ":v1.2.3"; a.Runs.Image != want {
		t.Errorf("released action.yml: runs.image %q, want %q", a.Runs.Image, want)
	}
	if n := lineDiff(main, got); n != 1 {
		t.Errorf("the release changed %d lines of action.yml, want 1 (runs.image)", n)
	}
	// A rerun of the release finds it done and leaves it.
	if out, err := runScript(t, "v1.2.3", img, f); err != nil || !strings.Contains(out, "already") {
		t.Errorf("rerun: %v %q", err, out)
	}
	if again, _ := os.ReadFile(f); !bytes.Equal(again, got) {
		t.Error("a rerun changed action.yml")
	}
}

func lineDiff(a, b []byte) int {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	if len(la) != len(lb) {
		return -1
	}
	n := 0
	for i := range la {
		if la[i] != lb[i] {
			n++
		}
	}
	return n
}

// The rewrite refuses what it cannot do right: another version already
// there, no `image: Dockerfile` line, a tag that is no release, an image
// with a tag.
func TestReleaseActionYmlRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	other := write("other.yml", "runs:\n  using: docker\n  image: docker://ghcr.io/tagsweep/tagsweep:v1.2.2\n")
	twice := write("twice.yml", "runs:\n  using: docker\n  image: Dockerfile\n  image: Dockerfile\n")
	good := write("good.yml", "runs:\n  using: docker\n  image: Dockerfile\n")
	for _, c := range []struct {
		name string
		args []string
	}{
		{"another version", []string{"v1.2.3", "ghcr.io/tagsweep/tagsweep", other}},
		{"two image lines", []string{"v1.2.3", "ghcr.io/tagsweep/tagsweep", twice}},
		{"not a release tag", []string{"1.2.3", "ghcr.io/tagsweep/tagsweep", good}},
		{"major tag", []string{"v1", "ghcr.io/tagsweep/tagsweep", good}},
		{"image with a tag", []string{"v1.2.3", "ghcr.io/tagsweep/tagsweep:v1", good}},
		{"no image", []string{"v1.2.3"}},
	} {
		if out, err := runScript(t, c.args...); err == nil {
			t.Errorf("%s: release-action-yml.sh %q succeeded: %s", c.name, c.args, out)
		}
	}
	if b, _ := os.ReadFile(good); string(b) != "runs:\n  using: docker\n  image: Dockerfile\n" {
		t.Errorf("a refused rewrite changed the file: %q", b)
	}
}

// release.yml's action.yml image is the one GoReleaser pushes, and the
// other places that name the image name it too.
func TestImageNameAgrees(t *testing.T) {
	t.Parallel()
	rel, gr := mustRead(t, ".github/workflows/release.yml"), mustRead(t, ".goreleaser.yaml")
	if err := CheckImageAgreement(rel, gr); err != nil {
		t.Error(err)
	}
	img, _ := ReleaseImage(rel)
	for _, f := range []string{"README.md", "action.yml", "deploy/kubernetes/base/cronjob.yaml", "deploy/kubernetes/base/kustomization.yaml", "deploy/kubernetes/example-overlay/kustomization.yaml", "templates/gitlab/tagsweep.yml"} {
		b := mustRead(t, f)
		refs := regexp.MustCompile(`ghcr\.io/[a-z0-9._/-]+`).FindAllString(string(b), -1)
		if len(refs) == 0 {
			t.Errorf("%s names no ghcr.io image", f)
		}
		for _, r := range refs {
			if r != img {
				t.Errorf("%s names %s; the release pushes %s", f, r, img)
			}
		}
	}
}

func TestImageAgreementCatches(t *testing.T) {
	t.Parallel()
	rel, gr := mustRead(t, ".github/workflows/release.yml"), mustRead(t, ".goreleaser.yaml")
	for _, c := range []struct{ name, file, old, new string }{
		{"other image in release.yml", "rel", "IMAGE: ghcr.io/tagsweep/tagsweep", "IMAGE: ghcr.io/tagsweep/sweeper"},
		{"other image in goreleaser", "gr", "      - ghcr.io/tagsweep/tagsweep\n", "      - ghcr.io/tagsweep/tagsweep-cli\n"},
		{"no vX.Y.Z tag", "gr", `      - "{{ .Tag }}"` + "\n", ""},
		{"no arm64", "gr", "      - linux/arm64\n", ""},
		{"image built from source", "gr", "BINARY: prebuilt", "BINARY: source"},
		{"script not run", "rel", `.github/scripts/release-action-yml.sh "$TAG" "$IMAGE" action.yml`, `sed -i s/x/y/ action.yml`},
	} {
		r, g := rel, gr
		target := &g
		if c.file == "rel" {
			target = &r
		}
		if !bytes.Contains(*target, []byte(c.old)) {
			t.Fatalf("%s: %q not found", c.name, c.old)
		}
		*target = bytes.Replace(*target, []byte(c.old), []byte(c.new), 1)
		if err := CheckImageAgreement(r, g); err == nil {
			t.Errorf("%s: no disagreement found", c.name)
		}
	}
}

// The workflows install the GoReleaser that tools/go.mod pins.
func TestGoreleaserVersionAgrees(t *testing.T) {
	t.Parallel()
	gomod, ws := mustRead(t, "tools/go.mod"), workflows(t)
	if err := CheckGoreleaserVersion(gomod, ws); err != nil {
		t.Error(err)
	}
	bad := map[string][]byte{}
	for k, v := range ws {
		bad[k] = bytes.ReplaceAll(v, []byte("version: v2.15.1"), []byte("version: '~> v2'"))
	}
	if err := CheckGoreleaserVersion(gomod, bad); err == nil {
		t.Error("workflows installing '~> v2' passed")
	}
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	d, err := ParseDockerfile(mustRead(t, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := ParseGoreleaser(mustRead(t, ".goreleaser.yaml"))
	if err != nil || len(g.Builds) != 1 {
		t.Fatalf("builds: %v %v", g, err)
	}
	if err := CheckDockerfile(d, g.Builds[0].Binary); err != nil {
		t.Error(err)
	}
	broken := bytes.Replace(mustRead(t, "Dockerfile"), []byte("org.opencontainers.image.revision=${COMMIT}"), []byte("org.opencontainers.image.revision=unknown"), 1)
	if d, err := ParseDockerfile(broken); err != nil || CheckDockerfile(d, "tagsweep") == nil {
		t.Errorf("a Dockerfile without the revision label passed (%v)", err)
	}
	if CheckDockerfile(d, "tagsweep-cli") == nil {
		t.Error("a binary name the prebuilt stage does not copy passed")
	}
}

// goreleaser runs the GoReleaser that tools/go.mod pins (go tool builds it
// once; the build cache keeps it).
func goreleaser(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	path, err := exec.CommandContext(ctx, "go", "tool", "-n", "goreleaser").Output()
	if err != nil {
		t.Fatalf("go tool -n goreleaser: %v", err)
	}
	cmd := exec.CommandContext(ctx, strings.TrimSpace(string(path)), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// goreleaser check passes on .goreleaser.yaml and fails on a field it does
// not know and on a deprecated one.
func TestGoreleaserCheck(t *testing.T) {
	t.Parallel()
	cfg, err := filepath.Abs(filepath.Join(Root, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := goreleaser(t, Root, "check", "--config", cfg); err != nil {
		t.Fatalf("goreleaser check: %v\n%s", err, out)
	}
	good := mustRead(t, ".goreleaser.yaml")
	for _, c := range []struct{ name, old, new, want string }{
		{"unknown field", "build_args:", "build_arg:", "field build_arg not found"},
		{"deprecated field", "formats: [zip]", "format: zip", "deprecated"},
	} {
		bad := filepath.Join(t.TempDir(), ".goreleaser.yaml")
		if err := os.WriteFile(bad, bytes.Replace(good, []byte(c.old), []byte(c.new), 1), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := goreleaser(t, Root, "check", "--config", bad)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("%s: goreleaser check: %v, output lacks %q:\n%s", c.name, err, c.want, out)
		}
	}
}

// releaseBuild builds this platform's binary as the release does, with
// GoReleaser in a clone of HEAD tagged v9.8.7 (no publishing), after edit
// changes .goreleaser.yaml there (committed, so the clone stays clean), and
// returns what `tagsweep version` prints and the clone's HEAD. The committed
// state only: uncommitted changes are not in the clone.
func releaseBuild(t *testing.T, edit func([]byte) []byte) (string, string) {
	t.Helper()
	clone := filepath.Join(t.TempDir(), "repo")
	git := func(dir string, args ...string) string {
		t.Helper()
		out, err := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %q: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git(Root, "clone", "--quiet", "--no-hardlinks", ".", clone)
	if edit != nil {
		cfg := filepath.Join(clone, ".goreleaser.yaml")
		b, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cfg, edit(b), 0o644); err != nil {
			t.Fatal(err)
		}
		git(clone, "commit", "--quiet", "-am", "edit")
	}
	git(clone, "tag", "v9.8.7")
	sha := git(clone, "rev-parse", "HEAD")
	if out, err := goreleaser(t, clone, "build", "--single-target", "--clean", "--output", "tagsweep-release"); err != nil {
		t.Fatalf("goreleaser build: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(clone, "tagsweep-release"), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("tagsweep version: %v\n%s", err, out)
	}
	return string(out), sha
}

// A release build stamps the tag and the commit into the binary, and this
// test sees a wrong stamp (the version without its v).
func TestReleaseBuildStampsVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the binary twice")
	}
	t.Parallel()
	got, sha := releaseBuild(t, nil)
	if want := "tagsweep v9.8.7 (commit " + sha + ")\n"; got != want {
		t.Errorf("tagsweep version = %q, want %q", got, want)
	}
	got, sha = releaseBuild(t, func(b []byte) []byte {
		return bytes.Replace(b, []byte("cli.Version={{ .Tag }}"), []byte("cli.Version={{ .Version }}"), 1)
	})
	if want := "tagsweep v9.8.7 (commit " + sha + ")\n"; got == want {
		t.Errorf("with Version={{ .Version }}, tagsweep version = %q still; the check cannot see a wrong stamp", got)
	}
}
