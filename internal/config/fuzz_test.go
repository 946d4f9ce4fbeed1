package config

// Fuzz targets for the input parsers (issue 5). Their seed corpus runs with
// every `go test`; `go test ./internal/config -run '^$' -fuzz FuzzX
// -fuzztime 60s` searches further, one target at a time.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/gobwas/glob"

	"github.com/tagsweep/tagsweep/internal/policy"
	"github.com/tagsweep/tagsweep/internal/registry/provider"
	"github.com/tagsweep/tagsweep/internal/registry/vendors"
)

// fuzzInputs is one set of raw input values, as the runner would pass them.
type fuzzInputs struct {
	registry, repositories, keep, olderThan, include, exclude, keepSemver, orderBy string
	dryRun, concurrency, insecure, provider, ageSource, username, password         string
	deleteOrphans, shard, timeout, maxDeletions                                    string
	// caMode says what ca-file points at (see caPath); caData is the
	// content of the file for the modes that write one.
	caMode uint8
	caData []byte
	list   bool
}

func (in fuzzInputs) add(f *testing.F) {
	f.Add(in.registry, in.repositories, in.keep, in.olderThan, in.include, in.exclude, in.keepSemver, in.orderBy,
		in.dryRun, in.concurrency, in.insecure, in.provider, in.ageSource, in.username, in.password,
		in.deleteOrphans, in.shard, in.timeout, in.maxDeletions, in.caMode, in.caData, in.list)
}

// fuzzPEM is a self-signed CA certificate, made once per process.
var fuzzPEM = sync.OnceValue(func() []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tagsweep fuzz CA"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(0, 0).Add(100 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
})

// Modes of ca-file. Every path is inside a test's temporary directory.
const (
	caUnset      = iota // ca-file not given
	caFuzzed            // a file holding caData
	caValid             // a file holding a CA certificate
	caValidMixed        // a CA certificate followed by caData
	caMissing           // a path that does not exist
	caDirectory         // a directory
	caModes
)

// caPath makes the ca-file of mode m in dir and says whether Load must
// accept it. Bit 3 of m pads the path with blanks (inputs are trimmed).
func caPath(t *testing.T, m uint8, data []byte) (path string, ok bool) {
	t.Helper()
	if m%caModes == caUnset {
		return "", true
	}
	dir := t.TempDir()
	write := func(content []byte) string {
		f, err := os.CreateTemp(dir, "ca-*.pem")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(content); err != nil {
			t.Fatal(err)
		}
		return f.Name()
	}
	switch m % caModes {
	case caFuzzed:
		path, ok = write(data), x509.NewCertPool().AppendCertsFromPEM(data)
	case caValid:
		path, ok = write(fuzzPEM()), true
	case caValidMixed:
		path, ok = write(append(append([]byte(nil), fuzzPEM()...), data...)), true
	case caMissing:
		path, ok = filepath.Join(dir, "missing.pem"), false
	case caDirectory:
		path, ok = dir, false
	}
	if m&8 != 0 {
		path = " \t" + path + "\n "
	}
	return path, ok
}

// refLoopback says whether an HTTP client would connect to this machine's
// loopback interface for host[:port]: "localhost" or a loopback IP
// literal. It is written apart from netutil.IsLoopback, on purpose.
func refLoopback(host string) bool {
	u, err := url.Parse("http://" + host)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

var refDecimal = regexp.MustCompile(`^[+-]?[0-9]+$`)

// refInt says whether v is a whole number in lo..hi, and which.
func refInt(v string, lo, hi int) (int, bool) {
	if !refDecimal.MatchString(v) {
		return 0, false
	}
	n, ok := new(big.Int).SetString(v, 10)
	if !ok || n.Cmp(big.NewInt(int64(lo))) < 0 || n.Cmp(big.NewInt(int64(hi))) > 0 {
		return 0, false
	}
	return int(n.Int64()), true
}

// refBool reads a boolean input: true/yes/on/1 or false/no/off/0, in any
// ASCII case.
func refBool(v string) (val, ok bool) {
	for _, r := range v {
		if r >= 0x80 {
			return false, false
		}
	}
	switch strings.ToLower(v) {
	case "true", "yes", "on", "1":
		return true, true
	case "false", "no", "off", "0":
		return false, true
	}
	return false, false
}

// refModel is what Load must make of the inputs: which inputs are bad, and
// the values of the simple ones.
type refModel struct {
	bad                                 map[string]bool
	keep, concurrency, maxDeletions     int
	shard, shards                       int
	dryRun, insecure, deleteOrphans     bool
	repositories, include, exclude      []string
	provider                            provider.Kind
	olderThanText, keepSemver, password string
}

func model(in fuzzInputs, raw map[string]string, caOK bool) refModel {
	m := refModel{bad: map[string]bool{}}
	val := func(name, def string) string {
		if v := strings.TrimSpace(raw[name]); v != "" {
			return v
		}
		return def
	}
	boolean := func(name string) bool {
		b, ok := refBool(val(name, "false"))
		if !ok {
			m.bad[name] = true
		}
		return b
	}
	host, scheme := "", ""
	if reg := val("registry", ""); reg == "" {
		m.bad["registry"] = true
	} else if h, s, err := ParseRegistry(reg); err != nil { // FuzzParseRegistry checks it
		m.bad["registry"] = true
	} else {
		host, scheme = h, s
	}
	m.insecure = boolean("insecure")
	if scheme == "http" && !m.insecure && !refLoopback(host) {
		m.bad["registry"] = true
	}

	m.repositories = List(val("repositories", "**"))
	if len(m.repositories) == 0 {
		m.repositories = []string{"**"}
	}
	for _, r := range m.repositories {
		if _, err := (glob.Compiler{Separators: []rune{'/'}, Globstar: true}).Compile(r); err != nil {
			m.bad["repositories"] = true
		}
	}
	defer func() {
		if m.provider == kindGHCR || m.provider == kindDockerHub {
			// Their repository names are lower case: so are the globs.
			for i, r := range m.repositories {
				m.repositories[i] = strings.ToLower(r)
			}
		}
	}()

	m.provider = ""
	pv := val("provider", "auto")
	for _, k := range []provider.Kind{provider.Auto, kindOCI, kindGHCR, kindDockerHub, kindHarbor,
		kindECR, kindGAR, kindACR, kindQuay, kindGitLab, "gcr"} {
		if strings.EqualFold(pv, string(k)) || strings.ToLower(pv) == string(k) {
			m.provider = k
		}
	}
	switch m.provider {
	case "":
		m.bad["provider"] = true
	case "gcr":
		m.provider = kindGAR
	case provider.Auto:
		m.provider = vendors.Table.Detect(host)
	}
	switch val("age-source", "auto") {
	case "auto", "created":
	case "pushed":
		if m.provider != "" && m.provider != kindGHCR && m.provider != kindDockerHub && m.provider != kindHarbor {
			m.bad["age-source"] = true
		}
	default:
		m.bad["age-source"] = true
	}

	user := strings.TrimSpace(raw["username"])
	m.password = raw["password"]
	if strings.TrimSpace(m.password) == "" {
		m.password = ""
	}
	if user != "" && m.password == "" {
		m.bad["password"] = true
	}
	if user == "" && m.password != "" && m.provider != kindGHCR {
		m.bad["username"] = true
	}

	tagGlobs := func(name, def string) []string {
		var good []string
		for _, p := range List(val(name, def)) {
			if _, err := glob.Compile(p); err != nil {
				m.bad[name] = true
				continue
			}
			good = append(good, p)
		}
		return good
	}
	m.include = tagGlobs("include-tags", "*")
	if len(m.include) == 0 && !m.bad["include-tags"] {
		m.include = []string{"*"}
	}
	m.exclude = tagGlobs("exclude-tags", "")
	if m.exclude == nil {
		m.exclude = []string{}
	}

	var ok bool
	if m.concurrency, ok = refInt(val("concurrency", "8"), 1, 1000); !ok {
		m.bad["concurrency"] = true
	}
	if v := val("shard", ""); v != "" {
		a, b, _ := strings.Cut(v, "/")
		n, nok := refInt(strings.TrimSpace(b), 1, 10000)
		i, iok := refInt(strings.TrimSpace(a), 0, n)
		if !nok || !iok {
			m.bad["shard"] = true
		}
		m.shard, m.shards = i, n
	}
	if v := val("timeout", "0"); v != "0" {
		if _, err := ParseDuration(v); err != nil { // FuzzParseDuration checks it
			m.bad["timeout"] = true
		}
	}
	if !caOK {
		m.bad["ca-file"] = true
	}
	if in.list {
		return m
	}
	if m.keep, ok = refInt(val("keep", "10"), 0, 1<<30); !ok {
		m.bad["keep"] = true
	}
	if m.maxDeletions, ok = refInt(val("max-deletions", "0"), 0, 1<<30); !ok {
		m.bad["max-deletions"] = true
	}
	m.olderThanText = val("older-than", "")
	if m.olderThanText != "" {
		if _, err := ParseDuration(m.olderThanText); err != nil { // FuzzParseDuration checks it
			m.bad["older-than"] = true
		}
	}
	m.keepSemver = val("keep-semver", "")
	if m.keepSemver != "" {
		if _, err := semver.NewConstraint(m.keepSemver); err != nil {
			m.bad["keep-semver"] = true
		}
	}
	if ob := val("order-by", "created"); ob != "created" && ob != "semver" {
		m.bad["order-by"] = true
	}
	m.dryRun = boolean("dry-run")
	m.deleteOrphans = boolean("delete-orphans")
	return m
}

// FuzzLoad feeds Load arbitrary raw values of every input and checks that
// it reports exactly the bad inputs (each as an *InputError naming an input
// of Inputs, on one line, the same whatever the password), and that a Config it
// returns holds its invariants and mirrors the inputs in Rules.
func FuzzLoad(f *testing.F) {
	ok := fuzzInputs{registry: "registry.example.com"}
	seeds := []fuzzInputs{
		ok,
		{registry: "https://Registry.Example.com:5000/", repositories: "team/*\n app ,\n\nother/**", keep: "3",
			olderThan: "2w", include: "pr-*,sha-*", exclude: "latest\nmain", keepSemver: ">=2.0.0", orderBy: "semver",
			dryRun: "true", concurrency: "4", username: "bot", password: " s3cret ", deleteOrphans: "yes"},
		{registry: "http://127.0.0.1:5000", caMode: caValid},
		{registry: "http://localhost:5000", list: true, caMode: caValid | 8},
		{registry: "http://[::1]:5000", insecure: "false"},
		{registry: "http://registry.internal", insecure: "TRUE"},
		{registry: "http://10.0.0.5:5000"},
		{registry: "HTTP://[::ffff:127.0.0.1]:80"},
		{registry: "ghcr.io", password: "ghp_token", ageSource: "pushed"},
		{registry: "docker.io", provider: " DockerHub ", ageSource: "pushed", username: "u", password: "p"},
		{registry: "harbor.example.com", provider: "harbor", ageSource: "pushed"},
		{registry: "gcr.io", provider: "gcr", ageSource: "pushed"},
		{registry: "127.0.0.1:5000", provider: "nexus", ageSource: "pushed"},
		{registry: "127.0.0.1:5000", ageSource: "Pushed"},
		{registry: "ghcr.io/owner", keep: "ten", orderBy: "name", dryRun: "maybe"},
		{registry: "ftp://x", keep: "-1", concurrency: "0", insecure: "2"},
		{registry: "user@host:5000", keep: "1073741825", concurrency: "1001"},
		{registry: "host:5000?x=1", keep: "+5", concurrency: "007"},
		{registry: "host:0", keep: "99999999999999999999999", concurrency: " 8 "},
		{registry: "host:65536#f"},
		{registry: " \t\n"},
		{registry: "registry.example.com", olderThan: "30d", keepSemver: "~1.4", orderBy: "semver"},
		{registry: "registry.example.com", olderThan: "1w3d", keepSemver: ">=banana"},
		{registry: "registry.example.com", olderThan: "30 days", keepSemver: "1.0 || >=2"},
		{registry: "registry.example.com", olderThan: "-1h"},
		{registry: "registry.example.com", olderThan: "1d12h", include: "v[1", exclude: "{a,b"},
		{registry: "registry.example.com", include: ", ,", exclude: ",\n", repositories: "\n,"},
		{registry: "registry.example.com", repositories: "team/{a", include: "[!a-z]*"},
		{registry: "registry.example.com", repositories: "a/**/b,c/*", include: "\\*"},
		{registry: "registry.example.com", username: "bot"},
		{registry: "registry.example.com", username: "bot", password: " \t "},
		{registry: "registry.example.com", password: "x"},
		{registry: "registry.example.com", caMode: caFuzzed, caData: []byte("hello")},
		{registry: "registry.example.com", caMode: caFuzzed, caData: []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")},
		{registry: "registry.example.com", caMode: caValidMixed, caData: []byte("trailing junk")},
		{registry: "registry.example.com", caMode: caMissing},
		{registry: "registry.example.com", caMode: caDirectory | 8},
		{registry: "registry.example.com", keep: "x", list: true},
		{registry: "registry.example.com", keepSemver: "1.0\n>=2", olderThan: "1\n2h"},
		{registry: "ghcr.io", repositories: "MyOrg/*", password: "t"},
		{registry: "docker.io", repositories: "MyOrg/App", provider: "dockerhub", username: "u", password: "t"},
		{registry: "registry.example.com", repositories: "MyOrg/*"},
		{registry: "registry.example.com", shard: "0/4", timeout: "20m", maxDeletions: "50"},
		{registry: "registry.example.com", shard: " 4 / 4 ", timeout: "1d", maxDeletions: "0"},
		{registry: "registry.example.com", shard: "5/4", timeout: "00", maxDeletions: "-1"},
		{registry: "registry.example.com", shard: "0/0", timeout: "-1h", maxDeletions: "x"},
		{registry: "registry.example.com", shard: "a/b", timeout: "0", maxDeletions: "1073741825", list: true},
		{registry: "registry.example.com", shard: "1/2/3", timeout: " 0 "},
		{registry: "registry.example.com", shard: "+1/+10000", timeout: "1w2d3h"},
	}
	for _, s := range seeds {
		s.add(f)
	}
	f.Fuzz(func(t *testing.T, registry, repositories, keep, olderThan, include, exclude, keepSemver, orderBy,
		dryRun, concurrency, insecure, providerV, ageSource, username, password, deleteOrphans, shard, timeout,
		maxDeletions string, caMode uint8, caData []byte, list bool) {
		in := fuzzInputs{registry, repositories, keep, olderThan, include, exclude, keepSemver, orderBy,
			dryRun, concurrency, insecure, providerV, ageSource, username, password, deleteOrphans, shard, timeout,
			maxDeletions, caMode, caData, list}
		ca, caOK := caPath(t, caMode, caData)
		raw := map[string]string{
			"registry": registry, "repositories": repositories, "keep": keep, "older-than": olderThan,
			"include-tags": include, "exclude-tags": exclude, "keep-semver": keepSemver, "order-by": orderBy,
			"dry-run": dryRun, "concurrency": concurrency, "insecure": insecure, "provider": providerV,
			"age-source": ageSource, "username": username, "password": password, "delete-orphans": deleteOrphans,
			"shard": shard, "timeout": timeout, "max-deletions": maxDeletions, "ca-file": ca,
		}
		want := model(in, raw, caOK)
		get := func(raw map[string]string) Lookup { return func(name string) string { return raw[name] } }
		c, err := Load(get(raw), list, vendors.Table)
		if want.password != "" {
			// The errors do not depend on the password, only on whether
			// there is one: they cannot show it.
			other := maps.Clone(raw)
			other["password"] = "\x01another password"
			if _, err2 := Load(get(other), list, vendors.Table); fmt.Sprint(err2) != fmt.Sprint(err) {
				t.Errorf("the errors depend on the password:\n%v\n%v", err, err2)
			}
		}
		if err != nil {
			if c != nil {
				t.Errorf("Load returned a Config and an error")
			}
			got := checkInputErrors(t, err)
			if !reflect.DeepEqual(got, want.bad) {
				t.Errorf("bad inputs: got %v, want %v (error: %v)", keys(got), keys(want.bad), err)
			}
			return
		}
		if len(want.bad) > 0 {
			t.Fatalf("Load accepted bad inputs %v", keys(want.bad))
		}
		checkConfig(t, c, in, want, strings.TrimSpace(ca))
	})
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkInputErrors checks that err is a join of *InputError, each naming an
// input, and returns the inputs named.
func checkInputErrors(t *testing.T, err error) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, in := range Inputs {
		names[in.Name] = true
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T %v is not an errors.Join", err, err)
	}
	got := map[string]bool{}
	for _, e := range joined.Unwrap() {
		var ie *InputError
		if !errors.As(e, &ie) || ie != e {
			t.Errorf("error %T %v is not an *InputError", e, e)
			continue
		}
		if !names[ie.Input] {
			t.Errorf("error %v names %q, which is not an input", ie, ie.Input)
		}
		if ie.Why == "" {
			t.Errorf("error %v does not say why", ie)
		}
		msg := ie.Error()
		if strings.ContainsAny(msg, "\r\n") {
			t.Errorf("error is not one line: %q", msg)
		}
		if !strings.HasPrefix(msg, ie.Input+": ") {
			t.Errorf("error %q does not start with its input", msg)
		}
		got[ie.Input] = true
	}
	return got
}

// checkConfig checks a Config Load returned.
func checkConfig(t *testing.T, c *Config, in fuzzInputs, want refModel, ca string) {
	t.Helper()
	if c.Keep < 0 || c.Keep != want.keep {
		t.Errorf("Keep = %d, want %d", c.Keep, want.keep)
	}
	if c.Concurrency < 1 || c.Concurrency > 1000 || c.Concurrency != want.concurrency {
		t.Errorf("Concurrency = %d, want %d", c.Concurrency, want.concurrency)
	}
	if c.Host == "" || c.Host != strings.ToLower(c.Host) || strings.Contains(c.Host, "://") ||
		strings.ContainsAny(c.Host, "/@?# \t\r\n") {
		t.Errorf("Host = %q: not a lower-case host[:port]", c.Host)
	}
	if c.Registry != strings.TrimSpace(in.registry) {
		t.Errorf("Registry = %q, want the input %q", c.Registry, in.registry)
	}
	lr := strings.ToLower(c.Registry)
	switch {
	case c.Scheme == "https" && strings.HasPrefix(lr, "https://"), c.Scheme == "http" && strings.HasPrefix(lr, "http://"),
		c.Scheme == "" && !strings.Contains(lr, "://"):
	default:
		t.Errorf("Scheme = %q for registry %q", c.Scheme, c.Registry)
	}
	if c.Scheme == "http" && !c.Insecure && !refLoopback(c.Host) {
		t.Errorf("plain HTTP to %q, not loopback, without insecure", c.Host)
	}
	if c.Insecure != want.insecure {
		t.Errorf("Insecure = %v", c.Insecure)
	}
	if c.Provider == "" || c.Provider == provider.Auto || c.Provider != want.provider {
		t.Errorf("Provider = %q, want %q", c.Provider, want.provider)
	}
	if k, err := vendors.Table.Parse(string(c.Provider)); err != nil || k != c.Provider {
		t.Errorf("Provider %q does not parse: %v", c.Provider, err)
	}
	switch c.AgeSource {
	case policy.AgeAuto, policy.AgeCreated:
	case policy.AgePushed:
		if !c.Caps.PushTime || !vendors.Table.Lookup(c.Provider).Caps.PushTime {
			t.Errorf("age-source pushed with provider %s", c.Provider)
		}
	default:
		t.Errorf("AgeSource = %q", c.AgeSource)
	}
	if c.Password != want.password {
		t.Errorf("Password = %q, want %q", c.Password, want.password)
	}
	for name, items := range map[string][]string{"repositories": c.Repositories, "include-tags": c.IncludeTags} {
		if len(items) == 0 {
			t.Errorf("%s is empty", name)
		}
	}
	for _, items := range [][]string{c.Repositories, c.IncludeTags, c.ExcludeTags} {
		checkItems(t, items)
	}
	if !slices.Equal(c.Repositories, want.repositories) || !slices.Equal(c.IncludeTags, want.include) ||
		!slices.Equal(c.ExcludeTags, want.exclude) {
		t.Errorf("lists = %q %q %q, want %q %q %q", c.Repositories, c.IncludeTags, c.ExcludeTags,
			want.repositories, want.include, want.exclude)
	}
	if c.Shard != want.shard || c.Shards != want.shards || c.Shards < 0 || c.Shards > 10000 || c.Shard < 0 ||
		c.Shard > c.Shards || (c.Shards == 0) != (strings.TrimSpace(in.shard) == "") {
		t.Errorf("Shard = %d/%d, want %d/%d", c.Shard, c.Shards, want.shard, want.shards)
	}
	if tt := strings.TrimSpace(in.timeout); c.Timeout < 0 || (tt == "" || tt == "0") != (c.TimeoutText == "") ||
		(c.TimeoutText != "" && c.TimeoutText != tt) {
		t.Errorf("Timeout = %v %q for input %q", c.Timeout, c.TimeoutText, in.timeout)
	}
	if c.CAFile != ca || (c.Roots != nil) != (ca != "") {
		t.Errorf("CAFile = %q (roots %v), want %q", c.CAFile, c.Roots != nil, ca)
	}

	r := c.Rules
	pats := func(gs []policy.Glob) []string {
		out := []string{}
		for _, g := range gs {
			out = append(out, g.Pattern)
		}
		return out
	}
	if !slices.Equal(pats(r.Include), c.IncludeTags) || !slices.Equal(pats(r.Exclude), c.ExcludeTags) {
		t.Errorf("Rules globs %q %q, fields %q %q", pats(r.Include), pats(r.Exclude), c.IncludeTags, c.ExcludeTags)
	}
	for _, g := range append(append([]policy.Glob(nil), r.Include...), r.Exclude...) {
		g.Match(g.Pattern) // compiled: must not panic
	}
	if in.list {
		return
	}
	if c.OlderThan < 0 || c.OlderThanText != want.olderThanText || (c.OlderThan != 0 && c.OlderThanText == "") {
		t.Errorf("OlderThan = %v %q, want text %q", c.OlderThan, c.OlderThanText, want.olderThanText)
	}
	if c.KeepSemver != want.keepSemver || (r.KeepSemver != nil) != (c.KeepSemver != "") {
		t.Errorf("KeepSemver = %q (rule %v), want %q", c.KeepSemver, r.KeepSemver, want.keepSemver)
	}
	if c.OrderBy != "created" && c.OrderBy != "semver" {
		t.Errorf("OrderBy = %q", c.OrderBy)
	}
	if c.MaxDeletions != want.maxDeletions {
		t.Errorf("MaxDeletions = %d, want %d", c.MaxDeletions, want.maxDeletions)
	}
	if c.DryRun != want.dryRun || c.DeleteOrphans != want.deleteOrphans {
		t.Errorf("DryRun, DeleteOrphans = %v, %v; want %v, %v", c.DryRun, c.DeleteOrphans, want.dryRun, want.deleteOrphans)
	}
	if r.Keep != c.Keep || r.OlderThan != c.OlderThan || r.OlderThanText != c.OlderThanText ||
		r.KeepSemverText != c.KeepSemver || string(r.OrderBy) != c.OrderBy || r.DeleteOrphans != c.DeleteOrphans ||
		r.AgeSource != c.AgeSource {
		t.Errorf("Rules %+v do not mirror the Config", r)
	}
}

// braceGroup is an innermost {...} group of a glob.
var braceGroup = regexp.MustCompile(`\{[^{}]*\}`)

// withoutGroups is s with its balanced {...} groups removed, innermost
// first; a brace left open stays.
func withoutGroups(s string) string {
	for {
		r := braceGroup.ReplaceAllString(s, "")
		if r == s {
			return s
		}
		s = r
	}
}

// outsideBraces is the text of s that List splits on commas: outside
// every {...} group, and before a brace left open.
func outsideBraces(s string) string {
	before, _, _ := strings.Cut(withoutGroups(s), "{")
	return before
}

// checkItems checks the items of a list input: trimmed, not empty, no
// newline, and a comma only inside braces (glob alternatives) or after a
// backslash.
func checkItems(t *testing.T, items []string) {
	t.Helper()
	for _, it := range items {
		if it == "" || it != strings.TrimSpace(it) || strings.Contains(it, "\n") ||
			(!strings.Contains(it, `\`) && strings.Contains(outsideBraces(it), ",")) {
			t.Errorf("list item %q is empty, untrimmed or holds a separator", it)
		}
	}
}

// FuzzList: a list input splits into trimmed, non-empty items without
// separators (a comma inside braces is part of its glob), and listing the
// items joined again gives the same items (joined by commas, when no item
// leaves a brace open or ends with the escape character).
func FuzzList(f *testing.F) {
	for _, s := range []string{"", "a", " a,\n\nb ,, c d \n", "team/*\n app ,\n\nother/**", ",,,", "\r\n", "a\r\nb\r\n",
		"\u00a0x\u2003,y\u0085", "a\tb, c", "\xff,\xfe\n", "v{1,2}.*, latest", "{a,{b,c}},d", "x{a,b\ny,z", "a},b", `\{a,b}`, `a\,b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		items := List(s)
		checkItems(t, items)
		joinable := true // by commas: no item escapes a separator or leaves a brace open
		for _, it := range items {
			joinable = joinable && !strings.Contains(it, `\`) && !strings.Contains(withoutGroups(it), "{")
		}
		for _, sep := range []string{",", "\n", " , ", "\r\n"} {
			if !joinable && strings.Contains(sep, ",") {
				continue
			}
			if again := List(strings.Join(items, sep)); !slices.Equal(again, items) {
				t.Errorf("List(join(%q, %q)) = %q", items, sep, again)
			}
		}
		n := strings.Count(s, ",") + strings.Count(s, "\n") + 1
		if len(items) > n {
			t.Errorf("%d items from %d pieces", len(items), n)
		}
		if strings.TrimSpace(strings.NewReplacer(",", "", "\n", "").Replace(s)) != "" && len(items) == 0 {
			t.Errorf("List(%q) lost every item", s)
		}
	})
}

// FuzzParseDuration: any text gives a non-negative duration or an error,
// and Go durations alone parse as Go parses them.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30d", "2w", "36h", "1w3d", "1d12h", "90m", "0", "", "d", "30", "3 days", "-1h", "1y", "w2",
		" 2w ", "1w-1h", "100000d", "100001d", "15250w", "2562047h47m16.854775807s", "1d2562047h", "0w0d", "1.5h", "+3h",
		"9223372036854775807ns", "-0", "1w1w", "1d1w"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if d != 0 {
				t.Errorf("ParseDuration(%q) = %v with error %v", s, d, err)
			}
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
		if g, gerr := time.ParseDuration(strings.TrimSpace(s)); gerr == nil && g != d {
			t.Errorf("ParseDuration(%q) = %v, Go says %v", s, d, g)
		}
		if again, err := ParseDuration(s); err != nil || again != d {
			t.Errorf("ParseDuration(%q) twice: %v then %v, %v", s, d, again, err)
		}
	})
}

// FuzzParseDurationParts builds "Nw", "Nd" and a Go duration from their
// values and checks the result against exact arithmetic: never a wrong
// value (an overflow must be refused, not wrap: a huge older-than must
// never turn into a small one), and small values accepted.
func FuzzParseDurationParts(f *testing.F) {
	f.Add(uint32(2), uint32(0), int64(0), uint8(0))
	f.Add(uint32(0), uint32(30), int64(0), uint8(0))
	f.Add(uint32(1), uint32(3), int64(0), uint8(0))
	f.Add(uint32(0), uint32(1), int64(12*time.Hour), uint8(0))
	f.Add(uint32(0), uint32(0), int64(36*time.Hour), uint8(1))
	f.Add(uint32(1), uint32(0), int64(-time.Hour), uint8(0))
	f.Add(uint32(0), uint32(0), int64(-time.Hour), uint8(0))
	f.Add(uint32(15250), uint32(0), int64(0), uint8(0))
	f.Add(uint32(15251), uint32(0), int64(0), uint8(2))
	f.Add(uint32(0), uint32(100000), int64(0), uint8(0))
	f.Add(uint32(0), uint32(100000), int64(math.MaxInt64), uint8(0))
	f.Add(uint32(0), uint32(0), int64(0), uint8(4))
	f.Add(uint32(0), uint32(0), int64(0), uint8(8))
	f.Fuzz(func(t *testing.T, w, d uint32, g int64, form uint8) {
		if form&8 != 0 {
			// The fuzzer moves integers in small steps; scrambled, they
			// land anywhere in 0..2^17, around the accepted range where
			// the sums overflow int64.
			w, d = uint32(uint64(w)*2654435761%(1<<17)), uint32(uint64(d)*2654435761%(1<<17))
			g *= -7046029254386353131
		}
		text, exact := "", new(big.Int)
		day := big.NewInt(int64(24 * time.Hour))
		if w > 0 || form&4 != 0 {
			text += fmt.Sprintf("%dw", w)
			exact.Add(exact, new(big.Int).Mul(big.NewInt(int64(w)), new(big.Int).Mul(day, big.NewInt(7))))
		}
		if d > 0 {
			text += fmt.Sprintf("%dd", d)
			exact.Add(exact, new(big.Int).Mul(big.NewInt(int64(d)), day))
		}
		if g != 0 || form&1 != 0 {
			text += time.Duration(g).String()
			exact.Add(exact, big.NewInt(g))
		}
		if form&2 != 0 {
			text = " \t" + text + "\n"
		}
		got, err := ParseDuration(text)
		if text == "" || strings.TrimSpace(text) == "" {
			if err == nil {
				t.Errorf("ParseDuration(%q) = %v, want an error", text, got)
			}
			return
		}
		representable := exact.Sign() >= 0 && exact.IsInt64()
		if err == nil && (!representable || big.NewInt(int64(got)).Cmp(exact) != 0) {
			t.Fatalf("ParseDuration(%q) = %v (%d ns), want %s ns", text, got, int64(got), exact)
		}
		if err != nil && representable && w <= 1000 && d <= 1000 && g >= 0 && g <= int64(1000*24*time.Hour) {
			t.Errorf("ParseDuration(%q): %v, want %s ns", text, err, exact)
		}
	})
}

// FuzzParseRegistry: an accepted registry gives a lower-case host that
// parses again to itself, with or without a scheme, and makes a URL whose
// host it is; a path, user info, query, fragment or other scheme is never
// accepted.
func FuzzParseRegistry(f *testing.F) {
	for _, s := range []string{"registry.example.com", "https://Registry.Example.com:5000/", "http://127.0.0.1:5000",
		"HTTP://localhost", "[::1]:5000", "ghcr.io", "ghcr.io/owner", "ftp://x", "user@host", "host?x=1", "host#f",
		"host:0", "host:65535", "host:65536", "host:abc", "", "/", "https://", "[fe80::1%25en0]:5000", "a_b.local",
		"é.example", "host:+80", "host:0080", "HOST.Example.COM."} {
		for kind := range uint8(8) {
			f.Add(s, kind)
		}
	}
	f.Fuzz(func(t *testing.T, s string, kind uint8) {
		// kind 0 is s itself; the others, built around a host-like s,
		// must all be refused.
		if kind%8 != 0 && kind%8 != 4 && strings.ContainsAny(s, "/@?#") {
			return
		}
		v := s
		switch kind % 8 {
		case 1:
			v = s + "/x"
		case 2:
			v = "user@" + s
		case 3:
			v = s + "?q=1"
		case 4:
			v = []string{"ftp", "oci", "docker", "file", "ssh", "httpss", "h"}[int(kind/8)%7] + "://" + s
		case 5:
			v = s + "#frag"
		case 6:
			v = "https://" + s + "/v2/"
		case 7:
			v = "http://user:pw@" + s
		}
		host, scheme, err := ParseRegistry(v)
		if err != nil {
			if host != "" || scheme != "" {
				t.Errorf("ParseRegistry(%q) = %q, %q with error %v", v, host, scheme, err)
			}
			return
		}
		if kind%8 != 0 {
			t.Fatalf("ParseRegistry(%q) = %q, %q; want a refusal", v, host, scheme)
		}
		lv := strings.ToLower(v)
		switch {
		case scheme == "https" && strings.HasPrefix(lv, "https://"), scheme == "http" && strings.HasPrefix(lv, "http://"),
			scheme == "" && !strings.Contains(v, "://"):
		default:
			t.Fatalf("ParseRegistry(%q): scheme %q", v, scheme)
		}
		rest := v
		if scheme != "" {
			rest = v[len(scheme+"://"):]
		}
		rest = strings.TrimSuffix(rest, "/")
		if strings.ContainsAny(rest, "/@?#\\ ") {
			t.Fatalf("ParseRegistry(%q) = %q: accepted a path, user, query or fragment", v, host)
		}
		if host == "" || host != strings.ToLower(host) {
			t.Errorf("ParseRegistry(%q): host %q is empty or not lower case", v, host)
		}
		for _, pre := range []string{"", "https://", "HTTP://"} {
			h, _, err := ParseRegistry(pre + host)
			if err != nil || h != host {
				t.Errorf("ParseRegistry(%q) = %q, %v; want %q back", pre+host, h, err, host)
			}
		}
		for _, sch := range []string{"http", "https"} {
			u, err := url.Parse(sch + "://" + host + "/v2/")
			if err != nil {
				t.Fatalf("ParseRegistry(%q) accepted %q, which makes no URL: %v", v, host, err)
			}
			if u.Host != host || u.Hostname() == "" || u.User != nil || u.Path != "/v2/" {
				t.Fatalf("ParseRegistry(%q) accepted %q: the URL's host is %q (hostname %q)", v, host, u.Host, u.Hostname())
			}
			if p := u.Port(); p != "" {
				if n, ok := refInt(p, 1, 65535); !ok || fmt.Sprint(n) != strings.TrimLeft(p, "0") {
					t.Errorf("ParseRegistry(%q) accepted port %q", v, p)
				}
			}
		}
	})
}

// FuzzParseShard: "i/n" is accepted exactly when n is a whole number from 1
// to 10000 and i one from 0 to n (blanks around either), and gives them;
// the canonical text parses back to the same shard.
func FuzzParseShard(f *testing.F) {
	for _, s := range []string{"0/4", "1/4", "4/4", "5/4", "0/0", "0/1", "1/1", "9999/10000", "10000/10000", "0/10001",
		" 2 / 3 ", "a/b", "1/2/3", "/", "", "1", "-1/4", "+1/+4", "-0/4", "01/04", "1 /\t4", "1/4\n", "99999999999999999999/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		i, n, err := ParseShard(s)
		a, b, cut := strings.Cut(strings.TrimSpace(s), "/")
		wn, nok := refInt(strings.TrimSpace(b), 1, 10000)
		wi, iok := refInt(strings.TrimSpace(a), 0, wn)
		if want := cut && nok && iok; want != (err == nil) {
			t.Fatalf("ParseShard(%q) = %d, %d, %v; want ok=%v", s, i, n, err, want)
		}
		if err != nil {
			if i != 0 || n != 0 {
				t.Errorf("ParseShard(%q) = %d, %d with error %v", s, i, n, err)
			}
			return
		}
		if i != wi || n != wn || n < 1 || n > 10000 || i < 0 || i > n {
			t.Errorf("ParseShard(%q) = %d/%d, want %d/%d", s, i, n, wi, wn)
		}
		if i2, n2, err := ParseShard(fmt.Sprintf("%d/%d", i, n)); err != nil || i2 != i || n2 != n {
			t.Errorf("ParseShard(%d/%d) = %d/%d, %v", i, n, i2, n2, err)
		}
	})
}
