package shipcheck

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
)

func releaseImage(t *testing.T) string {
	t.Helper()
	img, err := ReleaseImage(mustRead(t, ".github/workflows/release.yml"))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func actionInputs(t *testing.T) map[string]bool {
	t.Helper()
	in, err := ActionInputs(mustRead(t, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	return in
}

var full = PodRules{Resources: true, References: true, Credentials: true}

// render runs kustomize over a directory of deploy/ and decodes the result
// strictly.
func render(t *testing.T, dir string) *Objects {
	t.Helper()
	y, err := Kustomize(filepath.Join(Root, filepath.FromSlash(dir)))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	objs, err := DecodeKube(y)
	if err != nil {
		t.Fatalf("%s rendered:\n%s\n%v", dir, y, err)
	}
	o, err := Index(objs)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return o
}

// Every YAML file under deploy/kubernetes that is no kustomization decodes
// strictly into the Kubernetes API types, as written.
func TestKubeFilesDecode(t *testing.T) {
	t.Parallel()
	n := 0
	err := filepath.WalkDir(filepath.Join(Root, "deploy", "kubernetes"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") || filepath.Base(p) == "kustomization.yaml" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("$patch: delete")) {
			return nil // a kustomize directive, not an object
		}
		n++
		if _, err := DecodeKube(b); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		return nil
	})
	if err != nil || n < 3 {
		t.Fatalf("walk: %v, %d files", err, n)
	}
}

// kubectl apply -k deploy/kubernetes: a CronJob whose pod is hardened, reads
// its credentials from the generated Secret, its inputs from the generated
// ConfigMap (a dry run until changed), and writes only to its volumes.
func TestKustomizeCronJob(t *testing.T) {
	t.Parallel()
	o := render(t, "deploy/kubernetes")
	if len(o.CronJobs) != 1 || len(o.Jobs) != 0 || len(o.Claims) != 1 {
		t.Fatalf("want one CronJob and the cache claim, got %d CronJobs, %d Jobs, %d claims", len(o.CronJobs), len(o.Jobs), len(o.Claims))
	}
	cj := o.CronJobs[0]
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy %q, want Forbid: two sweeps race each other's second look", cj.Spec.ConcurrencyPolicy)
	}
	if err := CheckJob(o, cj.Spec.JobTemplate.Spec, releaseImage(t), actionInputs(t), full); err != nil {
		t.Error(err)
	}
	var cm map[string]string
	for _, c := range o.ConfigMaps {
		cm = c.Data
	}
	if cm["TAGSWEEP_DRY_RUN"] != "true" || cm["TAGSWEEP_REGISTRY"] == "" {
		t.Errorf("ConfigMap %v: want a registry and dry-run true until the user reads the plan", cm)
	}
	if d := cj.Spec.JobTemplate.Spec.ActiveDeadlineSeconds; d == nil || *d < 3000 {
		t.Errorf("activeDeadlineSeconds %v: want it above TAGSWEEP_TIMEOUT (50m)", d)
	}
}

// kubectl apply -k deploy/kubernetes/sharded: the same CronJob, each run an
// Indexed Job whose pods each take one shard; no claim.
func TestKustomizeSharded(t *testing.T) {
	t.Parallel()
	o := render(t, "deploy/kubernetes/sharded")
	if len(o.CronJobs) != 1 || len(o.Claims) != 0 {
		t.Fatalf("want one CronJob and no claim, got %d, %d", len(o.CronJobs), len(o.Claims))
	}
	spec := o.CronJobs[0].Spec.JobTemplate.Spec
	if spec.CompletionMode == nil || *spec.CompletionMode != batchv1.IndexedCompletion {
		t.Fatalf("completionMode %v, want Indexed", spec.CompletionMode)
	}
	if err := CheckJob(o, spec, releaseImage(t), actionInputs(t), full); err != nil {
		t.Error(err)
	}
	for _, v := range spec.Template.Spec.Volumes {
		if v.Name == "cache" && (v.EmptyDir == nil || v.PersistentVolumeClaim != nil) {
			t.Errorf("cache volume %+v, want an emptyDir only", v.VolumeSource)
		}
	}
}

// README's Kubernetes examples decode strictly and pass the pod rules that a
// short example keeps (no resources, its Secret made elsewhere).
func TestREADMEKubernetes(t *testing.T) {
	t.Parallel()
	blocks, kinds := readmeBlocks(t)
	n := 0
	for i, b := range blocks {
		if kinds[i] != Kubernetes {
			continue
		}
		n++
		objs, err := DecodeKube([]byte(b.Text))
		if err != nil {
			t.Errorf("README.md:%d: %v", b.Line, err)
			continue
		}
		o, err := Index(objs)
		if err != nil {
			t.Errorf("README.md:%d: %v", b.Line, err)
			continue
		}
		for _, j := range o.Jobs {
			if err := CheckJob(o, j.Spec, releaseImage(t), actionInputs(t), PodRules{Credentials: true}); err != nil {
				t.Errorf("README.md:%d: %v", b.Line, err)
			}
		}
		for _, cj := range o.CronJobs {
			if err := CheckJob(o, cj.Spec.JobTemplate.Spec, releaseImage(t), actionInputs(t), PodRules{Credentials: true}); err != nil {
				t.Errorf("README.md:%d: %v", b.Line, err)
			}
		}
	}
	if n == 0 {
		t.Error("README has no Kubernetes example")
	}
}

const goodJob = `apiVersion: batch/v1
kind: Job
metadata: {name: t}
spec:
  completionMode: Indexed
  completions: 4
  parallelism: 4
  template:
    spec:
      restartPolicy: Never
      securityContext: {runAsNonRoot: true, runAsUser: 1001}
      containers:
        - name: tagsweep
          image: ghcr.io/tagsweep/tagsweep:v1
          args: [--registry, r.example.com, --shard, $(JOB_COMPLETION_INDEX)/4]
          env:
            - {name: TAGSWEEP_USERNAME, valueFrom: {secretKeyRef: {name: registry, key: username}}}
            - {name: TAGSWEEP_PASSWORD, valueFrom: {secretKeyRef: {name: registry, key: password}}}
            - {name: TAGSWEEP_REPORT_FILE, value: /out/r.json}
          resources: {requests: {cpu: 100m, memory: 128Mi}}
          securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false}
          volumeMounts: [{name: out, mountPath: /out}]
      volumes: [{name: out, emptyDir: {}}]
`

// The Kubernetes checks fail on broken manifests: unknown fields (strict
// decoding), a root or writable pod, a plain-text password, a typo in an
// input, a report on the read-only root, a shard that disagrees with the
// Job, and a kustomization naming a missing file.
func TestKubeCatches(t *testing.T) {
	t.Parallel()
	in, img := actionInputs(t), releaseImage(t)
	check := func(y string) error {
		objs, err := DecodeKube([]byte(y))
		if err != nil {
			return err
		}
		o, err := Index(objs)
		if err != nil {
			return err
		}
		return CheckJob(o, o.Jobs[0].Spec, img, in, PodRules{Resources: true, Credentials: true})
	}
	if err := check(goodJob); err != nil {
		t.Fatalf("the good Job fails: %v", err)
	}
	for _, c := range []struct{ name, old, new, want string }{
		{"unknown field", "readOnlyRootFilesystem: true,", "readOnlyRootFilesytem: true,", "unknown field"},
		{"duplicate field", "restartPolicy: Never\n", "restartPolicy: Never\n      restartPolicy: Never\n", "already set"},
		{"wrong type", "completions: 4", "completions: four", "completions"},
		{"root", "runAsNonRoot: true, runAsUser: 1001", "runAsUser: 0", "runAsNonRoot"},
		{"writable root", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem"},
		{"no requests", "resources: {requests: {cpu: 100m, memory: 128Mi}}", "resources: {}", "request"},
		{"plain password", "{name: TAGSWEEP_PASSWORD, valueFrom: {secretKeyRef: {name: registry, key: password}}}", "{name: TAGSWEEP_PASSWORD, value: hunter2}", "Secret"},
		{"input typo", "TAGSWEEP_REPORT_FILE", "TAGSWEEP_REPORTFILE", "TAGSWEEP_REPORTFILE"},
		{"report on root", "/out/r.json", "/r.json", "read-only root"},
		{"shard of 8 in a Job of 4", "$(JOB_COMPLETION_INDEX)/4", "$(JOB_COMPLETION_INDEX)/8", "completions"},
		{"parallelism", "parallelism: 4", "parallelism: 2", "parallelism"},
		{"no shard", ", --shard, $(JOB_COMPLETION_INDEX)/4", "", "without a shard"},
		{"other image", "ghcr.io/tagsweep/tagsweep:v1", "ghcr.io/someone/tagsweep:v1", "released"},
		{"not a Kubernetes kind", "apiVersion: batch/v1\nkind: Job", "apiVersion: batch/v1\nkind: Jobb", "Jobb"},
	} {
		if !strings.Contains(goodJob, c.old) {
			t.Fatalf("%s: %q not in the good Job", c.name, c.old)
		}
		err := check(strings.Replace(goodJob, c.old, c.new, 1))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want an error with %q", c.name, err, c.want)
		}
	}
	// A pod that runs kubectl (protect-images) needs its service account,
	// bound to a role that lists pods.
	rbac := "---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: reader}\n" +
		"---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: pods}\nrules: [{apiGroups: [\"\"], resources: [pods], verbs: [list]}]\n" +
		"---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: reader-pods}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pods}\nsubjects: [{kind: ServiceAccount, name: reader, namespace: default}]\n"
	withSA := strings.Replace(goodJob, "      restartPolicy: Never\n", "      restartPolicy: Never\n      serviceAccountName: reader\n", 1)
	if err := check(withSA + rbac); err != nil {
		t.Errorf("a Job with its service account and role: %v", err)
	}
	for _, c := range []struct{ name, objs, want string }{
		{"no service account", "", "no such ServiceAccount"},
		{"role that cannot list pods", strings.Replace(rbac, "verbs: [list]", "verbs: [get]", 1), "list pods"},
		{"no binding", rbac[:strings.Index(rbac, "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding")], "bound to no ClusterRole"},
	} {
		if err := check(withSA + c.objs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want an error with %q", c.name, err, c.want)
		}
	}

	// The index from env must come before its use, from the right annotation.
	envShard := strings.Replace(goodJob, ", --shard, $(JOB_COMPLETION_INDEX)/4]", "]", 1)
	envShard = strings.Replace(envShard, "          env:\n", "          env:\n            - {name: TAGSWEEP_SHARD, value: $(I)/4}\n            - {name: I, valueFrom: {fieldRef: {fieldPath: \""+IndexAnnotation+"\"}}}\n", 1)
	if err := check(envShard); err == nil || !strings.Contains(err.Error(), "after") {
		t.Errorf("index defined after its use: %v", err)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("resources: [cronjob.yaml]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Kustomize(dir); err == nil {
		t.Error("a kustomization naming a missing file rendered")
	}
}

// The example overlay renders against base/ with a credentials file of the
// user's: its inputs merged, its Secret replacing base's, the pod rules kept.
func TestKustomizeExampleOverlay(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	for _, dir := range []string{"base", "example-overlay"} {
		src := filepath.Join(Root, "deploy", "kubernetes", dir)
		if err := os.CopyFS(filepath.Join(tmp, dir), os.DirFS(src)); err != nil {
			t.Fatal(err)
		}
	}
	creds := "TAGSWEEP_USERNAME=cleaner\nTAGSWEEP_PASSWORD=s3cret\n"
	if err := os.WriteFile(filepath.Join(tmp, "example-overlay", "credentials.env"), []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	y, err := Kustomize(filepath.Join(tmp, "example-overlay"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := DecodeKube(y)
	if err != nil {
		t.Fatal(err)
	}
	o, err := Index(objs)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Secrets) != 1 || len(o.ConfigMaps) != 1 || len(o.CronJobs) != 1 {
		t.Fatalf("secrets %d, configmaps %d, cronjobs %d: want one each", len(o.Secrets), len(o.ConfigMaps), len(o.CronJobs))
	}
	for _, s := range o.Secrets {
		if string(s.Data["TAGSWEEP_PASSWORD"]) != "s3cret" {
			t.Errorf("Secret %v: base's empty one not replaced", s.Data)
		}
	}
	for _, c := range o.ConfigMaps {
		if c.Data["TAGSWEEP_DRY_RUN"] != "false" || c.Data["TAGSWEEP_KEEP"] != "20" {
			t.Errorf("ConfigMap %v: want the overlay's inputs merged over base's", c.Data)
		}
	}
	cj := o.CronJobs[0]
	if err := CheckJob(o, cj.Spec.JobTemplate.Spec, releaseImage(t), actionInputs(t), full); err != nil {
		t.Error(err)
	}
	if img := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image; img != releaseImage(t)+":v1.0.0" {
		t.Errorf("image %s, want the overlay's pin", img)
	}
}
