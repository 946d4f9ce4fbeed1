package restapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// script answers the n-th request with answers[n] and records requests.
type script struct {
	mu      sync.Mutex
	answers []func(w http.ResponseWriter)
	got     []string
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := len(s.got)
	s.got = append(s.got, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization"))
	s.mu.Unlock()
	if n >= len(s.answers) {
		w.WriteHeader(http.StatusTeapot)
		return
	}
	s.answers[n](w)
}

func answer(status int, body string, headers ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

func client(t *testing.T, s *script) (*Client, *[]time.Duration) {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	base, _ := url.Parse(srv.URL + "/api/v3")
	var slept []time.Duration
	var mu sync.Mutex
	c := &Client{Base: base, Now: func() time.Time { return t0 }, Forbidden403Limits: true,
		Auth: func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", "Bearer tok")
			return nil
		},
		Sleep: func(_ context.Context, d time.Duration) error {
			mu.Lock()
			slept = append(slept, d)
			mu.Unlock()
			return nil
		}}
	return c, &slept
}

func TestURL(t *testing.T) {
	t.Parallel()
	base, _ := url.Parse("https://ghe.example.com/api/v3")
	c := &Client{Base: base}
	for in, want := range map[string]string{
		"/orgs/acme/packages?package_type=container":        "https://ghe.example.com/api/v3/orgs/acme/packages?package_type=container",
		"/orgs/acme/packages/container/team%2Fapi/versions": "https://ghe.example.com/api/v3/orgs/acme/packages/container/team%2Fapi/versions",
		"https://ghe.example.com/api/v3/x?page=2":           "https://ghe.example.com/api/v3/x?page=2",
		"/api/v3/projects?page=2&page_size=100":             "https://ghe.example.com/api/v3/projects?page=2&page_size=100",
	} {
		u, err := c.URL(in)
		if err != nil || u.String() != want {
			t.Errorf("URL(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
	for _, in := range []string{"https://evil.example.com/api/v3/x", "http://ghe.example.com/api/v3/x", "//evil.example.com/x?page=2"} {
		if _, err := c.URL(in); err == nil || !strings.Contains(err.Error(), "refusing a link") {
			t.Errorf("URL(%q) = %v; want a refusal", in, err)
		}
	}
}

func TestNextLink(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Add("Link", `<https://api.github.com/x?page=3>; rel="last", <https://api.github.com/x?page=2>; rel="next"`)
	if got := NextLink(h); got != "https://api.github.com/x?page=2" {
		t.Errorf("NextLink = %q", got)
	}
	if got := NextLink(http.Header{"Link": {`<https://api.github.com/x?page=1>; rel="prev"`}}); got != "" {
		t.Errorf("NextLink without next = %q", got)
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	reset := strconv.FormatInt(t0.Add(90*time.Second).Unix(), 10)
	cases := []struct {
		name  string
		first func(w http.ResponseWriter)
		wait  time.Duration
	}{
		{"429 Retry-After seconds", answer(429, "", "Retry-After", "7"), 7 * time.Second},
		{"429 Retry-After date", answer(429, "", "Retry-After", t0.Add(12*time.Second).Format(http.TimeFormat)), 12 * time.Second},
		{"Docker Hub X-Retry-After unix time", answer(429, "", "X-Retry-After", strconv.FormatInt(t0.Add(30*time.Second).Unix(), 10)), 30 * time.Second},
		{"GitHub primary limit exhausted (403)", answer(403, `{"message":"API rate limit exceeded"}`, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", reset), 90 * time.Second},
		{"GitHub secondary limit with retry-after", answer(403, `{"message":"You have exceeded a secondary rate limit"}`, "Retry-After", "60"), time.Minute},
		{"GitHub secondary limit without a header", answer(403, `{"message":"You have exceeded a secondary rate limit. Please wait"}`), time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &script{answers: []func(http.ResponseWriter){tc.first, answer(200, `{"ok":true}`)}}
			c, slept := client(t, s)
			var out struct{ OK bool }
			if _, err := c.GetJSON(context.Background(), "/x", &out); err != nil || !out.OK {
				t.Fatalf("GetJSON = %v (%+v)", err, out)
			}
			if diff := cmp.Diff([]time.Duration{tc.wait}, *slept); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			if len(s.got) != 2 || c.RateLimits() != 1 || c.Requests() != 2 {
				t.Errorf("requests %v, rate limits %d, counted %d", s.got, c.RateLimits(), c.Requests())
			}
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	t.Run("404 is a StatusError with the API's message", func(t *testing.T) {
		t.Parallel()
		s := &script{answers: []func(http.ResponseWriter){answer(404, `{"message":"Package not found.","documentation_url":"https://docs.github.com"}`)}}
		c, slept := client(t, s)
		_, err := c.Do(context.Background(), http.MethodDelete, "/v/1", nil, http.StatusNoContent)
		var se *StatusError
		if !errors.As(err, &se) || se.Status != 404 || se.Message != "Package not found." || len(*slept) != 0 {
			t.Errorf("err = %v (%#v), slept %v", err, se, *slept)
		}
	})
	t.Run("a 403 that is not a rate limit is not retried", func(t *testing.T) {
		t.Parallel()
		s := &script{answers: []func(http.ResponseWriter){answer(403, `{"message":"Must have admin rights to Repository."}`)}}
		c, _ := client(t, s)
		_, err := c.Do(context.Background(), http.MethodGet, "/x", nil)
		if err == nil || errors.Is(err, ErrRateLimited) || len(s.got) != 1 || !strings.Contains(err.Error(), "Must have admin rights") {
			t.Errorf("err = %v after %d requests", err, len(s.got))
		}
	})
	t.Run("5xx is retried with backoff", func(t *testing.T) {
		t.Parallel()
		s := &script{answers: []func(http.ResponseWriter){answer(502, ""), answer(500, ""), answer(204, "")}}
		c, slept := client(t, s)
		if _, err := c.Do(context.Background(), http.MethodDelete, "/x", nil); err != nil {
			t.Fatal(err)
		}
		if len(*slept) != 2 || (*slept)[1] <= (*slept)[0]/2 {
			t.Errorf("backoff waits %v", *slept)
		}
	})
	t.Run("a 403 is never a rate limit outside GitHub", func(t *testing.T) {
		t.Parallel()
		s := &script{answers: []func(http.ResponseWriter){answer(403, `{"message":"insufficient scope"}`, "X-RateLimit-Remaining", "0",
			"X-RateLimit-Reset", strconv.FormatInt(t0.Add(time.Minute).Unix(), 10))}}
		c, slept := client(t, s)
		c.Forbidden403Limits = false
		_, err := c.Do(context.Background(), http.MethodDelete, "/x", nil)
		var se *StatusError
		if !errors.As(err, &se) || se.Status != 403 || errors.Is(err, ErrRateLimited) || len(*slept) != 0 || len(s.got) != 1 {
			t.Errorf("err = %v, slept %v, %d requests", err, *slept, len(s.got))
		}
	})
	t.Run("a wait beyond MaxWait fails at once", func(t *testing.T) {
		t.Parallel()
		s := &script{answers: []func(http.ResponseWriter){answer(403, `{"message":"API rate limit exceeded"}`, "X-RateLimit-Remaining", "0",
			"X-RateLimit-Reset", strconv.FormatInt(t0.Add(50*time.Minute).Unix(), 10))}}
		c, slept := client(t, s)
		_, err := c.Do(context.Background(), http.MethodGet, "/x", nil)
		if !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "asks to wait 50m0s") || len(*slept) != 0 {
			t.Errorf("err = %v, slept %v", err, *slept)
		}
	})
	t.Run("rate limited after every retry", func(t *testing.T) {
		t.Parallel()
		var answers []func(http.ResponseWriter)
		for range 4 {
			answers = append(answers, answer(429, "", "Retry-After", "1"))
		}
		s := &script{answers: answers}
		c, _ := client(t, s)
		c.MaxRetries = 3
		_, err := c.Do(context.Background(), http.MethodGet, "/x", nil)
		if !errors.Is(err, ErrRateLimited) || len(s.got) != 4 {
			t.Errorf("err = %v after %d requests", err, len(s.got))
		}
	})
	t.Run("the token never appears in errors", func(t *testing.T) {
		t.Parallel()
		s := &script{answers: []func(http.ResponseWriter){answer(401, `{"message":"Bad credentials"}`)}}
		c, _ := client(t, s)
		_, err := c.Do(context.Background(), http.MethodGet, "/x", nil)
		if err == nil || !strings.Contains(err.Error(), "401 Unauthorized: Bad credentials") || strings.Contains(err.Error(), "tok") {
			t.Errorf("err = %v: want the API's message and never the token", err)
		}
		if s.got[0] != "GET /api/v3/x Bearer tok" {
			t.Errorf("request = %q", s.got[0])
		}
	})
}

// A successful answer that says the primary limit is used up pauses every
// following request until the reset.
func TestPrimaryLimitPauses(t *testing.T) {
	t.Parallel()
	reset := strconv.FormatInt(t0.Add(40*time.Second).Unix(), 10)
	s := &script{answers: []func(http.ResponseWriter){answer(200, `{}`, "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", reset), answer(200, `{}`)}}
	c, slept := client(t, s)
	for range 2 {
		if _, err := c.Do(context.Background(), http.MethodGet, "/x", nil); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]time.Duration{40 * time.Second}, *slept); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}
