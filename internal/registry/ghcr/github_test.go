package ghcr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/registry"
	"github.com/tagsweep/tagsweep/internal/registry/ghcr/ghcrtest"
	"github.com/tagsweep/tagsweep/internal/registry/image"
)

const (
	workflowToken = "ghs_workflowTokenValue0123456789abcdefgh"
	fineGrained   = "github_pat_11AAAAAAA0fineGrainedTokenValue0123456789"
)

// TestKindOf: a token's kind by its prefix, named without the token.
func TestKindOf(t *testing.T) {
	t.Parallel()
	cases := map[string]TokenKind{
		"ghp_abc": TokenClassic, "gho_abc": TokenOAuth, "ghu_abc": TokenUserToServer,
		workflowToken: TokenInstallation, "ghs_12345_eyJhbGciOi.eyJzdWIi.c2ln-_x": TokenInstallation,
		fineGrained: TokenFineGrained, "0123456789abcdef0123456789abcdef01234567": TokenOther,
	}
	for tok, want := range cases {
		if got := KindOf(tok); got != want {
			t.Errorf("KindOf(%s) = %v, want %v", tok, got, want)
		}
		if s := KindOf(tok).String(); s == "" || strings.Contains(s, tok) {
			t.Errorf("%v names itself %q", want, s)
		}
	}
}

// TestListRefusedToWorkflowToken: GitHub answers the workflow token's
// package listing with 400 "Invalid argument.": the error names the fix,
// is ErrDenied, and a named package still lists and deletes.
func TestListRefusedToWorkflowToken(t *testing.T) {
	t.Parallel()
	e := start(t, setup{token: workflowToken, owners: []string{"octo"}, actionsOwner: "octo", replica: ghcrtest.Options{RepositoryOwner: "octo"}})
	ctx := context.Background()
	old := e.push(t, "octo/app:old", 1)
	e.push(t, "octo/app:new", 2)
	_, err := e.b.Repositories(ctx)
	if !errors.Is(err, registry.ErrDenied) || !strings.Contains(err.Error(), ListFix) || !strings.Contains(err.Error(), `400 "Invalid argument."`) {
		t.Errorf("Repositories: %v; want ErrDenied naming %q", err, ListFix)
	}
	if strings.Contains(fmt.Sprint(err), workflowToken) {
		t.Errorf("the error shows the token: %v", err)
	}
	if _, err := e.b.Tags(ctx, "octo/app"); err != nil {
		t.Fatal(err)
	}
	if err := e.b.DeleteDigest(ctx, "octo/app", old, []string{"old"}); err != nil {
		t.Fatal(err)
	}
	// An installation token asks no GET /user; the workflow repository's
	// owner is the /user of its routes.
	for _, q := range e.requests() {
		if strings.HasPrefix(q, "GET /user ") || strings.Contains(q, "/users/octo/packages") {
			t.Errorf("request %s: want none to GET /user, and octo's packages under /user", q)
		}
	}
}

// TestFineGrainedRefused: GitHub's 403 "Resource not accessible by
// personal access token" is told as the fix, whatever the token looks like.
func TestFineGrainedRefused(t *testing.T) {
	t.Parallel()
	e := start(t, setup{token: fineGrained, owners: []string{"octo"}})
	e.push(t, "octo/app:v1", 1)
	_, err := e.b.Tags(context.Background(), "octo/app")
	if !errors.Is(err, registry.ErrDenied) || !strings.Contains(err.Error(), FineGrainedFix) || strings.Contains(err.Error(), fineGrained) {
		t.Errorf("Tags with a fine-grained token: %v; want ErrDenied naming %q", err, FineGrainedFix)
	}
}

// TestPrivatePackagesOfTheTokensUser: the token's own user's packages go
// through /user (private ones included), another user's through
// /users/{username}, where GitHub serves public packages: a private one
// there is not found, a public one is.
func TestPrivatePackagesOfTheTokensUser(t *testing.T) {
	t.Parallel()
	e := start(t, setup{owners: []string{"octo", "bob"}, replica: ghcrtest.Options{Users: []string{"bob"}}})
	ctx := context.Background()
	mine := e.push(t, "octo/app:old", 1)
	e.push(t, "octo/app:new", 2)
	e.push(t, "bob/tool:v1", 3)
	if _, err := e.b.Tags(ctx, "octo/app"); err != nil {
		t.Fatalf("the token user's private package: %v", err)
	}
	if err := e.b.DeleteDigest(ctx, "octo/app", mine, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.Tags(ctx, "bob/tool"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("another user's private package: %v, want ErrNotFound", err)
	}
	e.api.SetPublic("bob/tool")
	if tags, err := e.b.Tags(ctx, "bob/tool"); err != nil || len(tags) != 1 {
		t.Errorf("another user's public package: %v %v", tags, err)
	}
	var paths []string
	for _, q := range e.requests() {
		if strings.Contains(q, "/packages/") {
			paths = append(paths, strings.Fields(q)[0]+" "+strings.Split(strings.Fields(q)[1], "?")[0])
		}
	}
	want := []string{"GET /user/packages/container/app/versions", fmt.Sprintf("DELETE /user/packages/container/app/versions/%d", 1),
		"GET /users/bob/packages/container/tool/versions", "GET /users/bob/packages/container/tool/versions"}
	want[1] = paths[1] // the id is the replica's
	if diff := gocmp.Diff(want, paths); diff != "" || !strings.HasPrefix(paths[1], "DELETE /user/packages/container/app/versions/") {
		t.Errorf("package routes (-want +got):\n%s", diff)
	}
}

// TestPacing: 200 DELETEs (more than the 180 a minute GitHub allows) on the fake clock the backend and the replica
// share, with the replica enforcing GitHub's secondary limit (900 points a
// minute per route, 5 a DELETE): none is refused, the first DeleteBurst go
// at once, then DeletesPerMinute a minute, and Pacing says so once. (One
// version in each of 200 packages: the DELETE route is the same, and the
// replica's listing of each package stays small.)
func TestPacing(t *testing.T) {
	t.Parallel()
	e := start(t, setup{})
	ctx := context.Background()
	const n = 200
	var ds []string
	for i := range n {
		repo := fmt.Sprintf("octo/p%d", i)
		base := e.push(t, repo+":keep", int64(i+1))
		ds = append(ds, e.variant(t, repo, base, "old"))
	}
	start := e.clock.Now()
	for i, d := range ds {
		if err := e.b.DeleteDigest(ctx, fmt.Sprintf("octo/p%d", i), d, nil); err != nil {
			t.Fatalf("delete %d: %v", i, err)
		}
		if i == 0 {
			if s := e.b.Pacing(); s != "" {
				t.Errorf("pacing said %q before any wait", s)
			}
		}
	}
	took := e.clock.Now().Sub(start)
	want := time.Duration(float64(n-DeleteBurst) / DeletesPerMinute * float64(time.Minute))
	if took < want-time.Second || took > want+time.Second {
		t.Errorf("%d deletes took %s of the clock, want %s", n, took, want)
	}
	if got := len(e.api.Deleted()); got != n {
		t.Errorf("%d deleted, want %d", got, n)
	}
	for _, q := range e.api.Requests() {
		if q.Status == 403 || q.Status == 429 {
			t.Errorf("%s answered %d: the pace met the secondary limit", q, q.Status)
		}
	}
	if s := e.b.Pacing(); !strings.Contains(s, "150 a minute") {
		t.Errorf("Pacing() = %q", s)
	}
	if s := e.b.Pacing(); s != "" {
		t.Errorf("Pacing() says it again: %q", s)
	}
	if DeleteBurst+DeletesPerMinute > ghcrtest.SecondaryPoints/5 {
		t.Errorf("a burst of %d and %d a minute exceed GitHub's %d DELETEs a minute", DeleteBurst, DeletesPerMinute, ghcrtest.SecondaryPoints/5)
	}
}

// TestHourlyBudget: with a token whose hourly budget is nearly spent (a
// GITHUB_TOKEN has 1,000 requests an hour per repository), DELETEs stop at
// the reserve with ErrRateLimited naming the reset, send nothing more, and
// go again once the hour has turned.
func TestHourlyBudget(t *testing.T) {
	t.Parallel()
	e := start(t, setup{replica: ghcrtest.Options{RateLimit: 40}})
	ctx := context.Background()
	base := e.push(t, "octo/app:keep", 100)
	var ds []string
	for i := range 30 {
		ds = append(ds, e.variant(t, "octo/app", base, fmt.Sprintf("x%d", i)))
	}
	if _, err := e.b.Tags(ctx, "octo/app"); err != nil {
		t.Fatal(err)
	}
	sent, stopped := 0, -1
	for i, d := range ds {
		err := e.b.DeleteDigest(ctx, "octo/app", d, nil)
		if err == nil {
			sent++
			continue
		}
		if !errors.Is(err, registry.ErrRateLimited) || !strings.Contains(err.Error(), "next run") {
			t.Fatalf("delete %d: %v; want ErrRateLimited saying the next run goes on", i, err)
		}
		stopped = i
		break
	}
	b, ok := e.b.api.Budget()
	if stopped < 0 || !ok || b.Remaining > reserve(40) || b.Remaining < reserve(40)-1 {
		t.Fatalf("stopped at %d with %+v (%v); want a stop at the reserve %d", stopped, b, ok, reserve(40))
	}
	deletes := len(e.api.Deletes())
	if err := e.b.DeleteDigest(ctx, "octo/app", ds[stopped], nil); !errors.Is(err, registry.ErrRateLimited) || len(e.api.Deletes()) != deletes {
		t.Errorf("after the stop: %v, %d DELETEs sent", err, len(e.api.Deletes())-deletes)
	}
	e.clock.Sleep(ctx, time.Hour)
	if _, err := e.b.Tags(ctx, "octo/app"); err != nil { // a new hour: the budget is back
		t.Fatal(err)
	}
	if err := e.b.DeleteDigest(ctx, "octo/app", ds[stopped], nil); err != nil {
		t.Errorf("in the next hour: %v", err)
	}
}

// TestUntaggedWithPushTimes: Untagged lists the versions without a tag
// with their push times (updated_at, else created_at), the children of an
// index and a tag's previous digest alike.
func TestUntaggedWithPushTimes(t *testing.T) {
	t.Parallel()
	e := start(t, setup{})
	ctx := context.Background()
	_, kids := e.multiarch(t, "octo/app:multi", 1)
	prev := e.push(t, "octo/app:latest", 2)
	e.push(t, "octo/app:latest", 3) // latest moves on: prev is untagged
	at := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	e.api.SetTimes("octo/app", prev, at.Add(-time.Hour), at)
	if _, err := e.b.Tags(ctx, "octo/app"); err != nil {
		t.Fatal(err)
	}
	got, err := e.b.Untagged(ctx, "octo/app")
	if err != nil {
		t.Fatal(err)
	}
	byDigest := map[string]time.Time{}
	for _, u := range got {
		byDigest[u.Digest] = u.Pushed
	}
	want := map[string]bool{prev: true}
	for _, k := range kids {
		want[k] = true
	}
	if len(byDigest) != len(want) {
		t.Errorf("untagged %v, want %v", got, want)
	}
	for d := range want {
		if byDigest[d].IsZero() {
			t.Errorf("%s: no push time (%v)", d, got)
		}
	}
	if !byDigest[prev].Equal(at) {
		t.Errorf("the previous latest pushed %s, want its updated_at %s", byDigest[prev], at)
	}
	var _ []image.Untagged = got
}
