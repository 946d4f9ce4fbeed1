package cli_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagsweep/tagsweep/internal/cli/clitest"
	"github.com/tagsweep/tagsweep/internal/testregistry"
)

// The scenarios in this package run cli.Main in this process, as the
// runner or a CI job runs the binary (clitest), for the outputs and exit
// codes of the sweep and ls; e2e keeps what only the binary shows.
func TestMain(m *testing.M) {
	// The docker config keychain reads the process's environment: an
	// empty one, as e2e gives the binary.
	dir, err := os.MkdirTemp("", "tagsweep-cli")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("DOCKER_CONFIG", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type inputs = clitest.Inputs

// runAction runs tagsweep in process as the runner runs a docker action.
func runAction(t *testing.T, in inputs) clitest.Result {
	t.Helper()
	return clitest.Action(t, clitest.InProcess, in, nil)
}

// runCLI runs tagsweep in process outside GitHub Actions.
func runCLI(t *testing.T, env []string, args ...string) clitest.Result {
	t.Helper()
	return clitest.CLI(t, clitest.InProcess, env, args...)
}

func deletedTagsOutput(t *testing.T, r clitest.Result) []string {
	t.Helper()
	return clitest.DeletedTags(t, r.Outputs)
}

func checkCounts(t *testing.T, r clitest.Result) {
	t.Helper()
	clitest.CheckCounts(t, r.Outputs, r.Report)
}

var (
	newRegistry   = clitest.NewRegistry
	daysAgo       = clitest.DaysAgo
	pushImage     = clitest.PushImage
	seedAges      = clitest.SeedAges
	stale         = clitest.Stale
	tag           = clitest.Tag
	multiarch     = clitest.Multiarch
	listTags      = clitest.ListTags
	exists        = clitest.Exists
	byTag         = clitest.ByTag
	digestOf      = clitest.DigestOf
	denyDeletesOf = clitest.DenyDeletesOf
)

// runInvalid runs in against r, whose repository app holds the tags new
// and old, and checks the answer to invalid input: exit 2, one stderr
// line naming input and saying each of want, no request, nothing deleted.
func runInvalid(t *testing.T, r *testregistry.Registry, in inputs, input string, want ...string) clitest.Result {
	t.Helper()
	r.ResetRequests()
	res := runAction(t, in)
	clitest.CheckInvalid(t, res, input, want...)
	if n := r.Requests().Total; n != 0 {
		t.Errorf("the registry received %d requests, want none: %+v", n, r.Requests().ByRoute)
	}
	if diff := cmp.Diff([]string{"new", "old"}, listTags(t, r.Addr(), "app")); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
	return res
}
