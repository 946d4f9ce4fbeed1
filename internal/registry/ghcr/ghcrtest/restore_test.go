package ghcrtest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// TestRestoreVersion: the restore API brings a deleted version back with
// its id and its manifest, within 30 days; its tags only with RestoreTags;
// an unknown id, a version restored already and one deleted longer ago
// answer 404 "Package version not found."; a digest pushed anew meanwhile
// answers 400 "Active package version already exists with given name.".
func TestRestoreVersion(t *testing.T) {
	t.Parallel()
	for _, restoreTags := range []bool{false, true} {
		t.Run(fmt.Sprint("tags ", restoreTags), func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			clock := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
			now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
			r, s := start(t, Options{Users: []string{"octo"}, Now: now, RestoreTags: restoreTags})
			ctx := context.Background()
			a := push(t, r.Addr()+"/octo/app:a", 1)
			push(t, r.Addr()+"/octo/app:b", 2)
			vs, err := s.Versions("octo/app")
			if err != nil {
				t.Fatal(err)
			}
			var id int64
			for _, v := range vs {
				if v.Digest == a {
					id = v.ID
				}
			}
			base := s.URL() + "/user/packages/container/app/versions/" // a private package of the token's user
			if got := call(t, http.MethodDelete, fmt.Sprint(base, id), "Bearer "+token); got.status != http.StatusNoContent {
				t.Fatalf("delete: %d %s", got.status, got.body)
			}
			restore := func(id int64) answer {
				return call(t, http.MethodPost, fmt.Sprint(base, id, "/restore"), "Bearer "+token)
			}
			if got := restore(999999); got.status != http.StatusNotFound || !strings.Contains(string(got.body), msgVersionNotFound) {
				t.Errorf("restore of an unknown id: %d %s", got.status, got.body)
			}
			if got := restore(id); got.status != http.StatusNoContent {
				t.Fatalf("restore: %d %s", got.status, got.body)
			}
			if d, ok, _ := s.reg.Head(ctx, "octo/app", a); !ok || d != a {
				t.Errorf("the restored manifest is not in the registry: %v %s", ok, d)
			}
			_, tagged, _ := s.reg.Head(ctx, "octo/app", "a")
			if tagged != restoreTags {
				t.Errorf("tag a back after the restore: %v, want %v", tagged, restoreTags)
			}
			vs, _ = s.Versions("octo/app")
			found := false
			for _, v := range vs {
				found = found || (v.Digest == a && v.ID == id)
			}
			if !found {
				t.Errorf("version %d is not active again with its id: %+v", id, vs)
			}
			if got := restore(id); got.status != http.StatusNotFound {
				t.Errorf("second restore: %d %s", got.status, got.body)
			}

			// Deleted, then pushed anew: the digest is another version now.
			call(t, http.MethodDelete, fmt.Sprint(base, id), "Bearer "+token)
			if err := testregistry.Tag(ctx, r.Addr()+"/octo/app:again", r.Addr()+"/octo/app:b"); err != nil {
				t.Fatal(err)
			}
			s.mu.Lock()
			raw := s.repos["octo/app"].byID[id].gone.raw
			mt := s.repos["octo/app"].byID[id].gone.mediaType
			s.mu.Unlock()
			if err := s.reg.Put(ctx, "octo/app", "again", mt, raw); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Versions("octo/app"); err != nil {
				t.Fatal(err)
			}
			if got := restore(id); got.status != http.StatusBadRequest || !strings.Contains(string(got.body), msgActiveExists) {
				t.Errorf("restore of a digest active again: %d %s", got.status, got.body)
			}

			// Deleted more than 30 days ago.
			call(t, http.MethodDelete, fmt.Sprint(base, s.idOf(t, "octo/app", a)), "Bearer "+token)
			mu.Lock()
			clock = clock.Add(31 * 24 * time.Hour)
			mu.Unlock()
			if got := restore(s.idOf(t, "octo/app", "")); got.status != http.StatusNotFound {
				t.Errorf("restore after 31 days: %d %s", got.status, got.body)
			}
		})
	}
}

// idOf is the id of the active version of digest, or with digest "" the
// id of the newest deleted version.
func (s *Server) idOf(t *testing.T, repo, digest string) int64 {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var best int64
	for id, rc := range s.repos[repo].byID {
		if (digest != "" && rc.digest == digest && rc.deleted.IsZero()) || (digest == "" && !rc.deleted.IsZero() && id > best) {
			best = id
		}
	}
	if best == 0 {
		t.Fatalf("no version %q in %s", digest, repo)
	}
	return best
}
