// Command tagsweep-demo shows tagsweep on a real registry with nothing but
// Go: it starts a CNCF distribution registry in-process, seeds a few
// repositories the way CI fills them (commit and PR tags of varied ages,
// releases, a multi-arch image with a signature), runs tagsweep in dry-run
// and then for real, runs the registry's garbage collector and proves that
// every kept image still pulls.
//
//	go run ./cmd/tagsweep-demo
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tagsweep/tagsweep/internal/cli"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	reg, err := testregistry.New(ctx, testregistry.Options{DeleteEnabled: true})
	if err != nil {
		return err
	}
	defer reg.Close()
	addr := reg.Addr()
	fmt.Fprintf(out, "# A CNCF distribution registry (v3, delete enabled) is running at %s\n\n", addr)
	if err := seed(ctx, addr, out); err != nil {
		return err
	}

	args := []string{
		"--registry", addr,
		"--repositories", "**",
		"--keep", "3",
		"--older-than", "14d",
		"--exclude-tags", "latest,main",
		"--keep-semver", ">=2.0.0",
	}
	section(out, "tagsweep --dry-run: the plan")
	var dry strings.Builder
	if code := sweep(ctx, append(args, "--dry-run"), io.MultiWriter(out, &dry)); code != 0 {
		return fmt.Errorf("dry run exited %d", code)
	}
	before := snapshot(ctx, addr)

	// The real run's summary is the plan above with "deleted" for "would
	// be deleted": the demo shows its outputs, and checks that it deleted
	// exactly what the dry run planned, instead of every table again.
	section(out, "tagsweep: the same plan, for real")
	var real strings.Builder
	if code := sweep(ctx, args, &real); code != 0 {
		return fmt.Errorf("run exited %d", code)
	}
	planned, done := outputs(dry.String()), outputs(real.String())
	if planned["deleted-tags"] != done["deleted-tags"] {
		return fmt.Errorf("the real run deleted %s, the dry run planned %s", done["deleted-tags"], planned["deleted-tags"])
	}
	after := snapshot(ctx, addr)
	fmt.Fprintf(out, "The real run deleted the %s tags the dry run planned, and no other (its log is on stderr). Its outputs:\n\n", done["deleted-count"])
	for _, name := range outputNames {
		if v, ok := done[name]; ok {
			fmt.Fprintf(out, "%s=%s\n", name, v)
		}
	}

	section(out, "registry garbage-collect --delete-untagged, then pull every kept tag completely")
	stored, err := reg.BlobBytes()
	if err != nil {
		return err
	}
	if err := reg.GC(ctx, true); err != nil {
		return err
	}
	left, err := reg.BlobBytes()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Garbage collection freed %d bytes of blobs (%d before, %d after); tagsweep's reclaimed-bytes said %s.\n", stored-left, stored, left, done["reclaimed-bytes"])
	pulled := 0
	for _, ref := range after {
		if err := testregistry.VerifyPull(ctx, addr+"/"+ref); err != nil {
			return fmt.Errorf("kept %s no longer pulls: %w", ref, err)
		}
		pulled++
	}
	fmt.Fprintf(out, "%d tags before, %d after; all %d kept tags pull completely (manifest, config, layers, index children).\n", len(before), len(after), pulled)
	return nil
}

func section(out io.Writer, title string) {
	fmt.Fprintf(out, "\n%s\n# %s\n%s\n\n", strings.Repeat("=", 78), title, strings.Repeat("=", 78))
}

// sweep runs tagsweep in-process, isolated from the caller's environment
// (no GITHUB_* files are touched), as in a terminal: the plain-text
// summary and the outputs go to out.
func sweep(ctx context.Context, args []string, out io.Writer) int {
	return cli.Main(ctx, args, cli.Env{Getenv: func(string) string { return "" }, Stdout: out, Stderr: os.Stderr})
}

// outputNames are the outputs a run prints as name=value lines, in order.
var outputNames = []string{"deleted-count", "kept-count", "failed-count", "deleted-tags", "reclaimed-bytes", "report-file"}

// outputs reads the name=value lines a run printed after its summary.
func outputs(stdout string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(stdout, "\n") {
		for _, name := range outputNames {
			if v, ok := strings.CutPrefix(l, name+"="); ok {
				out[name] = v
			}
		}
	}
	return out
}

func snapshot(ctx context.Context, addr string) []string {
	var refs []string
	for _, repo := range []string{"web", "api", "tools/builder"} {
		tags, _ := testregistry.ListTags(ctx, addr+"/"+repo)
		for _, t := range tags {
			refs = append(refs, repo+":"+t)
		}
	}
	sort.Strings(refs)
	return refs
}

func days(n float64) time.Time { return time.Now().Add(-time.Duration(n * 24 * float64(time.Hour))) }

// seed fills three repositories the way CI does.
func seed(ctx context.Context, addr string, out io.Writer) error {
	push := func(ref string, created time.Time, seed int64) (v1.Hash, error) {
		return testregistry.PushImage(ctx, addr+"/"+ref, testregistry.ImageSpec{Created: created, Seed: seed, LayerSize: 64 << 10})
	}
	// web: a commit tag per build over two months, a few PR builds, main and latest.
	var last string
	for i := 0; i < 8; i++ {
		ref := fmt.Sprintf("web:sha-%07x", 0xa11ce0+i*97)
		if _, err := push(ref, days(float64(60-i*8)), int64(100+i)); err != nil {
			return err
		}
		last = ref
	}
	for i, age := range []float64{45, 20, 2} {
		if _, err := push(fmt.Sprintf("web:pr-%d", 17+i), days(age), int64(200+i)); err != nil {
			return err
		}
	}
	for _, t := range []string{"web:main", "web:latest"} {
		if err := testregistry.Tag(ctx, addr+"/"+t, addr+"/"+last); err != nil {
			return err
		}
	}
	// api: multi-arch releases, each signed the cosign way.
	for i, v := range []string{"1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0-rc.1", "2.1.0"} {
		created := days(float64(120 - i*20))
		var kids []v1.Image
		for j, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}} {
			img, err := testregistry.BuildImage(testregistry.ImageSpec{Created: created, Seed: int64(300 + i*10 + j), Platform: &p, LayerSize: 32 << 10})
			if err != nil {
				return err
			}
			kids = append(kids, img)
		}
		h, err := testregistry.PushIndex(ctx, addr+"/api:"+v, testregistry.IndexSpec{Children: kids})
		if err != nil {
			return err
		}
		if _, err := testregistry.PushCosignSignature(ctx, addr+"/api", h, "sig", int64(400+i)); err != nil {
			return err
		}
	}
	// tools/builder: a nested repository with one old and one new image.
	if _, err := push("tools/builder:2024.01", days(300), 500); err != nil {
		return err
	}
	if _, err := push("tools/builder:2026.11", days(3), 501); err != nil {
		return err
	}
	fmt.Fprintln(out, "Seeded: web (commit, PR, main and latest tags), api (signed multi-arch releases), tools/builder.")
	fmt.Fprintln(out, "Policy: keep the 3 newest per repository, delete only images older than 14 days, never latest/main or versions >=2.0.0.")
	return nil
}
