package dockerhub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tagsweep/tagsweep/internal/registry/oci"
)

// PullLimit is Docker Hub's pull limit as a quota of the registry API.
// "Docker Hub returns a 429 response code with the following body when the
// manifest is requested: You have reached your pull rate limit" (docker/docs
// content/manuals/docker-hub/usage/pulls.md); on the wire the body is the
// OCI error envelope with the code TOOMANYREQUESTS, and no Retry-After is
// sent (dependabot/cli#380: "they use a 'quota' system and not
// 'retry-after'"). The abuse limit, by contrast, "returns a simple 429 Too
// Many Requests response" (usage/_index.md), which restapi and the
// registry backoff wait out as any 429. Retrying a pull-limit 429 cannot
// succeed before the window has moved on, hours later: it ends what needed
// the pull at once.
var PullLimit = oci.Quota{
	Covers: func(req *http.Request) bool {
		return req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/manifests/")
	},
	Spent: func(resp *http.Response, body []byte) (string, bool) {
		if resp.StatusCode != http.StatusTooManyRequests || !hasCode(body, "TOOMANYREQUESTS") {
			return "", false
		}
		return pullLimitReason(resp.Header, time.Now()), true
	},
}

func hasCode(body []byte, code string) bool {
	var env struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &env) != nil {
		return false
	}
	for _, e := range env.Errors {
		if strings.EqualFold(e.Code, code) {
			return true
		}
	}
	return false
}

// rateHeader reads a pull-limit header, spelt ratelimit-* (pulls.md) or
// x-ratelimit-* (live answers reported in 2026).
func rateHeader(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	return h.Get("x-" + name)
}

// pullLimitReason says that the pull limit is reached and when the quota
// resets: at RateLimit-Reset where the answer has it (seconds from now, as
// regctl reads it), else as the window the ratelimit-limit header names
// ("100;w=21600") moves on: the limit counts the pulls of the last w
// seconds, so the quota comes back within w.
func pullLimitReason(h http.Header, now time.Time) string {
	limit, window := parseRate(rateHeader(h, "ratelimit-limit"))
	who := h.Get("docker-ratelimit-source")
	what := "Docker Hub pull limit reached"
	switch {
	case limit > 0 && window > 0 && who != "":
		what += fmt.Sprintf(" (%d pulls per %s for %s)", limit, window, who)
	case limit > 0 && window > 0:
		what += fmt.Sprintf(" (%d pulls per %s)", limit, window)
	}
	if s, err := strconv.Atoi(strings.TrimSpace(rateHeader(h, "ratelimit-reset"))); err == nil && s >= 0 {
		at := now.Add(time.Duration(s) * time.Second).UTC()
		return fmt.Sprintf("%s; the quota resets at %s; no manifest is read again this run (HEADs are not pulls)", what, at.Format(time.RFC3339))
	}
	if window > 0 {
		return fmt.Sprintf("%s; the quota resets as earlier pulls leave its %s window, by %s at the latest; no manifest is read again this run (HEADs are not pulls)",
			what, window, now.Add(window).UTC().Format(time.RFC3339))
	}
	return what + "; the quota resets when Docker Hub's window (6h, docs) moves on; no manifest is read again this run (HEADs are not pulls)"
}

// parseRate reads "<n>;w=<seconds>".
func parseRate(v string) (int, time.Duration) {
	n, rest, _ := strings.Cut(v, ";")
	limit, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil {
		return 0, 0
	}
	w, ok := strings.CutPrefix(strings.TrimSpace(rest), "w=")
	if !ok {
		return limit, 0
	}
	sec, err := strconv.Atoi(w)
	if err != nil {
		return limit, 0
	}
	return limit, time.Duration(sec) * time.Second
}
