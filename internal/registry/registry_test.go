package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/registry/image"
)

// stub is a Backend that records every call that reaches it. Methods it
// does not define panic through the nil embedded interface.
type stub struct {
	Backend
	mu    sync.Mutex
	calls []string
}

func (s *stub) rec(c string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}

func (s *stub) Tags(_ context.Context, repo string) ([]image.Tag, error) {
	s.rec("Tags " + repo)
	return []image.Tag{{Name: "v1"}}, nil
}

func (s *stub) TagDeleteSupported(_ context.Context, repo string) (bool, error) {
	s.rec("TagDeleteSupported " + repo)
	return true, nil
}

func (s *stub) DeleteTag(_ context.Context, repo, tag string) error {
	s.rec("DeleteTag " + repo + ":" + tag)
	return nil
}

func (s *stub) DeleteDigest(_ context.Context, repo, digest string, _ []string) error {
	s.rec("DeleteDigest " + repo + "@" + digest)
	return nil
}

func (s *stub) Capabilities() Capabilities { return Capabilities{GCHint: "stub"} }

func TestDryRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := &stub{}
	r := DryRun(s)
	var b Backend = r // a Recorder is a Backend

	if tags, err := b.Tags(ctx, "app"); err != nil || !cmp.Equal([]string{"v1"}, image.Names(tags)) {
		t.Errorf("Tags through the recorder = %v, %v", tags, err)
	}
	if ok, err := b.TagDeleteSupported(ctx, "app"); !ok || err != nil {
		t.Errorf("TagDeleteSupported through the recorder = %v, %v", ok, err)
	}
	if err := b.DeleteTag(ctx, "app", "old"); err != nil {
		t.Errorf("DeleteTag = %v", err)
	}
	if err := b.DeleteDigest(ctx, "team/api", "sha256:abc", nil); err != nil {
		t.Errorf("DeleteDigest = %v", err)
	}
	if err := b.DeleteTag(ctx, "app", "older"); err != nil {
		t.Errorf("DeleteTag = %v", err)
	}
	if b.Capabilities().GCHint != "stub" {
		t.Errorf("Capabilities not forwarded: %+v", b.Capabilities())
	}

	if diff := cmp.Diff([]string{"Tags app", "TagDeleteSupported app"}, s.calls); diff != "" {
		t.Errorf("calls that reached the backend (-want +got):\n%s", diff)
	}
}

func TestDryRunConcurrent(t *testing.T) {
	t.Parallel()
	s := &stub{}
	r := DryRun(s)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = r.DeleteTag(context.Background(), "app", fmt.Sprint(i))
			_ = r.DeleteDigest(context.Background(), "app", fmt.Sprint("sha256:", i), nil)
		}()
	}
	wg.Wait()
	if len(s.calls) != 0 {
		t.Errorf("deletions reached the backend: %v", s.calls)
	}
}

func TestAuthError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		err      *AuthError
		want     string
		sentinel error
	}{{
		name:     "401",
		err:      &AuthError{Status: 401, Who: `user "ci-bot" (from the username input)`, Need: `pull on repository "app"`, Err: ErrUnauthorized},
		want:     `registry refused access (401) for user "ci-bot" (from the username input): the credentials were not accepted, or they lack pull on repository "app"`,
		sentinel: ErrUnauthorized,
	}, {
		name:     "401 anonymous",
		err:      &AuthError{Status: 401, Who: "anonymous access (no username input and no docker config entry for r.test)", Need: `pull on repository "app"`, Err: ErrUnauthorized},
		want:     `registry refused access (401) for anonymous access (no username input and no docker config entry for r.test): needs pull on repository "app"`,
		sentinel: ErrUnauthorized,
	}, {
		name:     "403 with detail",
		err:      &AuthError{Status: 403, Who: "anonymous access", Need: `delete on repository "app"`, Detail: "DENIED requested access to the resource is denied", Err: ErrDenied},
		want:     `registry denied access (403) for anonymous access: needs delete on repository "app": DENIED requested access to the resource is denied`,
		sentinel: ErrDenied,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, tc.err.Error()); diff != "" {
				t.Errorf("Error() (-want +got):\n%s", diff)
			}
			wrapped := fmt.Errorf("list tags: %w", tc.err)
			if !errors.Is(wrapped, tc.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", wrapped, tc.sentinel)
			}
			var ae *AuthError
			if !errors.As(wrapped, &ae) || ae != tc.err {
				t.Errorf("errors.As did not find the AuthError in %v", wrapped)
			}
		})
	}
}

func TestSentinelsDistinct(t *testing.T) {
	t.Parallel()
	all := []error{ErrNotFound, ErrUnauthorized, ErrDenied, ErrDeleteDisabled, ErrTagDeleteUnsupported, ErrReferrersUnsupported, ErrRateLimited, ErrProtected, ErrUntaggedUnsupported}
	seen := map[string]bool{}
	for i, a := range all {
		if seen[a.Error()] {
			t.Errorf("two sentinels say %q", a)
		}
		seen[a.Error()] = true
		for j, b := range all {
			if i != j && errors.Is(a, b) {
				t.Errorf("errors.Is(%v, %v) = true", a, b)
			}
		}
	}
}
