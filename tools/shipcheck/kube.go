package shipcheck

import (
	"bytes"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

var kubeDecoder = func() runtime.Decoder {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, batchv1.AddToScheme, rbacv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, s, s, kjson.SerializerOptions{Yaml: true, Strict: true})
}()

// DecodeKube decodes a multi-document YAML stream strictly into the Kubernetes
// API types (core/v1, batch/v1 and rbac/v1): an unknown or duplicate field, a wrong
// type or a kind of another group is an error.
func DecodeKube(stream []byte) ([]runtime.Object, error) {
	var objs []runtime.Object
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(stream), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		obj, _, err := kubeDecoder.Decode([]byte(doc), nil, nil)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		objs = append(objs, obj)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("no Kubernetes object")
	}
	return objs, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// Kustomize renders a kustomization directory as `kubectl apply -k` does.
func Kustomize(dir string) ([]byte, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, err
	}
	return m.AsYaml()
}

// Objects indexes decoded objects by kind and name.
type Objects struct {
	ConfigMaps map[string]*corev1.ConfigMap
	Secrets    map[string]*corev1.Secret
	Claims     map[string]*corev1.PersistentVolumeClaim
	CronJobs   []*batchv1.CronJob
	Jobs       []*batchv1.Job
	// ServiceAccounts and the RBAC objects: what a pod that reads the
	// cluster (protect-images from kubectl) runs as.
	ServiceAccounts map[string]*corev1.ServiceAccount
	ClusterRoles    map[string]*rbacv1.ClusterRole
	Bindings        []*rbacv1.ClusterRoleBinding
}

// Index sorts decoded objects by kind; a kind tagsweep's manifests do not use
// is an error.
func Index(objs []runtime.Object) (*Objects, error) {
	o := &Objects{ConfigMaps: map[string]*corev1.ConfigMap{}, Secrets: map[string]*corev1.Secret{}, Claims: map[string]*corev1.PersistentVolumeClaim{},
		ServiceAccounts: map[string]*corev1.ServiceAccount{}, ClusterRoles: map[string]*rbacv1.ClusterRole{}}
	for _, obj := range objs {
		switch v := obj.(type) {
		case *corev1.ConfigMap:
			o.ConfigMaps[v.Name] = v
		case *corev1.Secret:
			o.Secrets[v.Name] = v
		case *corev1.PersistentVolumeClaim:
			o.Claims[v.Name] = v
		case *batchv1.CronJob:
			o.CronJobs = append(o.CronJobs, v)
		case *batchv1.Job:
			o.Jobs = append(o.Jobs, v)
		case *corev1.ServiceAccount:
			o.ServiceAccounts[v.Name] = v
		case *rbacv1.ClusterRole:
			o.ClusterRoles[v.Name] = v
		case *rbacv1.ClusterRoleBinding:
			o.Bindings = append(o.Bindings, v)
		default:
			return nil, fmt.Errorf("unexpected %T", obj)
		}
	}
	return o, nil
}

// PodRules says which of CheckJob's rules apply: all of them for deploy/,
// the ones a short README example keeps for the README.
type PodRules struct {
	Resources   bool // requests for cpu and memory
	References  bool // envFrom, volumes: the ConfigMaps, Secrets and claims exist
	Credentials bool // the credentials come from a Secret
}

// CheckJob checks the tagsweep container of a Job spec: a non-root uid, a
// read-only root filesystem, no privilege escalation, the released image,
// TAGSWEEP_* names that are inputs, every path tagsweep writes (report-file,
// cache-dir) on a mounted volume, and, for an Indexed Job, a shard i/n per
// pod whose n is the Job's completions and parallelism.
func CheckJob(o *Objects, spec batchv1.JobSpec, image string, inputs map[string]bool, rules PodRules) error {
	var errs []string
	fail := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	pod := spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever && pod.RestartPolicy != corev1.RestartPolicyOnFailure {
		fail("restartPolicy %q: a Job's pod needs Never or OnFailure", pod.RestartPolicy)
	}
	if len(pod.Containers) != 1 {
		return fmt.Errorf("want one container, got %d", len(pod.Containers))
	}
	if sa := pod.ServiceAccountName; sa != "" && sa != "default" {
		if err := checkServiceAccount(o, sa); err != nil {
			fail("%v", err)
		}
	}
	c := pod.Containers[0]
	psc, csc := pod.SecurityContext, c.SecurityContext
	nonRoot := (psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot) || (csc != nil && csc.RunAsNonRoot != nil && *csc.RunAsNonRoot)
	uid := int64(-1)
	if psc != nil && psc.RunAsUser != nil {
		uid = *psc.RunAsUser
	}
	if csc != nil && csc.RunAsUser != nil {
		uid = *csc.RunAsUser // the container's wins
	}
	if !nonRoot || uid <= 0 {
		fail("want runAsNonRoot: true and a non-zero runAsUser (got nonRoot=%v uid=%d)", nonRoot, uid)
	}
	if csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		fail("want readOnlyRootFilesystem: true")
	}
	if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		fail("want allowPrivilegeEscalation: false")
	}
	if !strings.HasPrefix(c.Image, image+":") && !strings.HasPrefix(c.Image, image+"@") {
		fail("image %q is not the released %s", c.Image, image)
	}
	if rules.Resources {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
				fail("no %s request", r)
			}
		}
	}

	// The inputs as the container sees them: envFrom, then env.
	vars := map[string]string{}
	var names []string
	fromSecret := map[string]bool{}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm, ok := o.ConfigMaps[ef.ConfigMapRef.Name]
			if !ok {
				if rules.References {
					fail("envFrom: no ConfigMap %s", ef.ConfigMapRef.Name)
				}
				continue
			}
			for k, v := range cm.Data {
				vars[k] = v
				names = append(names, k)
			}
		case ef.SecretRef != nil:
			s, ok := o.Secrets[ef.SecretRef.Name]
			if !ok {
				if rules.References {
					fail("envFrom: no Secret %s", ef.SecretRef.Name)
				}
				continue
			}
			for k := range s.Data {
				fromSecret[k] = true
				names = append(names, k)
			}
		}
	}
	for _, e := range c.Env {
		names = append(names, e.Name)
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			fromSecret[e.Name] = true
		}
		vars[e.Name] = e.Value
	}
	if err := CheckEnvNames(names, inputs); err != nil {
		fail("%v", err)
	}
	if rules.Credentials {
		for _, k := range []string{"TAGSWEEP_USERNAME", "TAGSWEEP_PASSWORD"} {
			if !fromSecret[k] {
				fail("%s does not come from a Secret", k)
			}
		}
	}
	if _, ok := vars["TAGSWEEP_PASSWORD"]; ok && !fromSecret["TAGSWEEP_PASSWORD"] {
		fail("TAGSWEEP_PASSWORD is set in plain text, not from a Secret")
	}

	// Volumes: every mount declared, every claim present, every written path on a mount.
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
		if rules.References && v.PersistentVolumeClaim != nil {
			if _, ok := o.Claims[v.PersistentVolumeClaim.ClaimName]; !ok {
				fail("volume %s: no PersistentVolumeClaim %s", v.Name, v.PersistentVolumeClaim.ClaimName)
			}
		}
	}
	var mounts []string
	for _, m := range c.VolumeMounts {
		if _, ok := volumes[m.Name]; !ok {
			fail("volumeMount %s: no such volume", m.Name)
		}
		if !m.ReadOnly {
			mounts = append(mounts, path.Clean(m.MountPath))
		}
	}
	for _, in := range []string{"TAGSWEEP_REPORT_FILE", "TAGSWEEP_CACHE_DIR"} {
		p, ok := vars[in]
		if !ok || p == "" {
			continue
		}
		if in == "TAGSWEEP_REPORT_FILE" {
			p = path.Dir(p)
		}
		if !onMount(path.Clean(p), mounts) {
			fail("%s=%s is on the read-only root filesystem: mount a writable volume there (mounts %v)", in, vars[in], mounts)
		}
	}

	if spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion {
		if err := checkShard(spec, c); err != nil {
			fail("%v", err)
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func onMount(p string, mounts []string) bool {
	for _, m := range mounts {
		if p == m || strings.HasPrefix(p, m+"/") {
			return true
		}
	}
	return false
}

var shardExpr = regexp.MustCompile(`^\$\(([A-Z_][A-Z0-9_]*)\)/([0-9]+)$`)

// IndexAnnotation is the pod annotation the Job controller sets to a pod's
// completion index.
const IndexAnnotation = "metadata.annotations['batch.kubernetes.io/job-completion-index']"

// checkShard checks that an Indexed Job's pods split the registry: pod i
// runs shard $(index)/n, with n = completions = parallelism, and the index
// variable is JOB_COMPLETION_INDEX or an env var defined before it from the
// completion-index annotation (Kubernetes expands $(VAR) only from variables
// defined earlier in env, or, in args, from any).
func checkShard(spec batchv1.JobSpec, c corev1.Container) error {
	var expr string
	inArgs := false
	at := -1
	for i, e := range c.Env {
		if e.Name == "TAGSWEEP_SHARD" {
			expr, at = e.Value, i
		}
	}
	for i, a := range c.Args {
		if a == "--shard" && i+1 < len(c.Args) {
			expr, inArgs = c.Args[i+1], true
		} else if v, ok := strings.CutPrefix(a, "--shard="); ok {
			expr, inArgs = v, true
		}
	}
	if expr == "" {
		return fmt.Errorf("an Indexed Job without a shard (TAGSWEEP_SHARD or --shard)")
	}
	m := shardExpr.FindStringSubmatch(expr)
	if m == nil {
		return fmt.Errorf("shard %q: want $(INDEX)/n", expr)
	}
	n, _ := strconv.Atoi(m[2])
	if spec.Completions == nil || int(*spec.Completions) != n {
		return fmt.Errorf("shard %s: completions %v, want %d", expr, ptrVal(spec.Completions), n)
	}
	if spec.Parallelism == nil || int(*spec.Parallelism) != n {
		return fmt.Errorf("shard %s: parallelism %v, want %d (all shards at once)", expr, ptrVal(spec.Parallelism), n)
	}
	if m[1] == "JOB_COMPLETION_INDEX" && inArgs {
		return nil
	}
	for i, e := range c.Env {
		if e.Name == m[1] {
			if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != IndexAnnotation {
				return fmt.Errorf("%s is not the completion index (fieldRef %s)", m[1], IndexAnnotation)
			}
			if !inArgs && i > at {
				return fmt.Errorf("%s is defined after TAGSWEEP_SHARD: Kubernetes would not expand it", m[1])
			}
			return nil
		}
	}
	return fmt.Errorf("shard %s: %s is not defined in env", expr, m[1])
}

func ptrVal(p *int32) any {
	if p == nil {
		return "unset"
	}
	return *p
}

// KubeBlocks joins README Kubernetes blocks as one stream.
func KubeBlocks(texts []string) []byte {
	var b bytes.Buffer
	for _, t := range texts {
		b.WriteString("---\n" + t)
	}
	return b.Bytes()
}

// checkServiceAccount checks that a pod's service account exists among the
// objects, bound to a ClusterRole that exists and lets it list pods (what
// kubectl get pods -A needs, for protect-images).
func checkServiceAccount(o *Objects, sa string) error {
	if _, ok := o.ServiceAccounts[sa]; !ok {
		return fmt.Errorf("serviceAccountName %s: no such ServiceAccount", sa)
	}
	for _, b := range o.Bindings {
		bound := false
		for _, s := range b.Subjects {
			bound = bound || (s.Kind == "ServiceAccount" && s.Name == sa)
		}
		if !bound || b.RoleRef.Kind != "ClusterRole" {
			continue
		}
		role, ok := o.ClusterRoles[b.RoleRef.Name]
		if !ok {
			return fmt.Errorf("ClusterRoleBinding %s: no ClusterRole %s", b.Name, b.RoleRef.Name)
		}
		for _, r := range role.Rules {
			if slices.Contains(r.Resources, "pods") && slices.Contains(r.Verbs, "list") && slices.Contains(r.APIGroups, "") {
				return nil
			}
		}
		return fmt.Errorf("ClusterRole %s does not let %s list pods", role.Name, sa)
	}
	return fmt.Errorf("ServiceAccount %s is bound to no ClusterRole", sa)
}
