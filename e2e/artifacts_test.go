package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tagsweep/tagsweep/internal/report"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

func artifact(t *testing.T, ref string, spec testregistry.ArtifactSpec) v1.Hash {
	t.Helper()
	h, err := testregistry.PushArtifact(context.Background(), ref, spec)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestArtifactsByAnnotation: Helm charts pushed oras-style and SBOMs
// pushed with oras have configs without created; tagsweep dates them by
// their org.opencontainers.image.created annotation, ranks and ages them
// like images (the version order is the reverse of the age order here),
// keeps one without the annotation as "unknown age", and the dry run
// plans what the real run deletes. Kept artifacts pull after GC.
func TestArtifactsByAnnotation(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	a := r.Addr()
	ages := map[string]float64{"1.0.0": 2, "1.1.0": 45, "1.2.0": 60}
	for v, days := range ages {
		artifact(t, a+"/charts/web:"+v, testregistry.HelmChart("web", v, daysAgo(days).UTC().Truncate(time.Second)))
	}
	for i, tg := range []string{"sbom-a", "sbom-b"} {
		artifact(t, a+"/sboms/app:"+tg, testregistry.SBOM(daysAgo(float64(50-40*i)).UTC().Truncate(time.Second), int64(i)))
	}
	artifact(t, a+"/sboms/app:undated", testregistry.SBOM(time.Time{}, 9))

	in := inputs{"registry": a, "repositories": "charts/web,sboms/app", "keep": "1", "older-than": "30d", "dry-run": "true"}
	dry := runAction(t, in)
	if dry.code != 0 {
		t.Fatalf("dry run exit %d", dry.code)
	}
	want := []string{"charts/web:1.1.0", "charts/web:1.2.0", "sboms/app:sbom-a"}
	if diff := cmp.Diff(want, deletedTagsOutput(t, dry)); diff != "" {
		t.Errorf("dry run would delete (-want +got):\n%s", diff)
	}
	web := byTag(t, dry.report, "charts/web")
	if got := web["1.0.0"]; got.Action != report.Kept || !strings.Contains(got.Reason, "rank 1 of 3 by created") {
		t.Errorf("1.0.0: %s %q, want kept as the newest by its annotation", got.Action, got.Reason)
	}
	for v, days := range ages {
		c := web[v].Created
		if wantAt := daysAgo(days).UTC().Truncate(time.Second); c == nil || !c.Equal(wantAt) {
			t.Errorf("charts/web:%s created %v, want the annotation %v", v, c, wantAt)
		}
	}
	if got := web["1.1.0"]; got.Action != report.WouldDelete || !strings.Contains(got.Reason, "older than 30d") {
		t.Errorf("1.1.0: %s %q", got.Action, got.Reason)
	}
	sboms := byTag(t, dry.report, "sboms/app")
	if got := sboms["undated"]; got.Action != report.Kept || got.Reason != "unknown age" || got.Created != nil {
		t.Errorf("undated SBOM: %s %q created %v, want kept for unknown age", got.Action, got.Reason, got.Created)
	}
	if got := sboms["sbom-b"]; got.Action != report.Kept {
		t.Errorf("sbom-b (10 days old): %s %q, want kept", got.Action, got.Reason)
	}

	runReal(t, in, dry)
	if diff := cmp.Diff([]string{"1.0.0"}, listTags(t, a, "charts/web")); diff != "" {
		t.Errorf("charts left (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"sbom-b", "undated"}, listTags(t, a, "sboms/app")); diff != "" {
		t.Errorf("SBOMs left (-want +got):\n%s", diff)
	}
	gcAndVerify(t, r, true, "charts/web:1.0.0", "sboms/app:sbom-b", "sboms/app:undated")

	// ls shows the artifact's date and its type.
	ls := runCLI(t, nil, "ls", "--registry", a, "--repositories", "charts/web")
	if ls.code != 0 || !strings.Contains(ls.stdout, daysAgo(2).UTC().Truncate(time.Second).Format(time.RFC3339)) {
		t.Errorf("ls exit %d, want the chart's annotation date:\n%s", ls.code, ls.stdout)
	}
}
