package main

// pageSize is the registry's largest page for tags/list and _catalog
// (distribution's tags.maxtags and catalog.maxentries defaults, as
// testregistry.New configures them).
const pageSize = 1000

func pages(n int) int {
	if n <= 0 {
		return 1
	}
	return (n + pageSize - 1) / pageSize
}

// bound is the fewest requests that apply the policy on the generic OCI
// path (no vendor listing API), with the second look of contract rule 7.
// Pings (GET /v2/) and token requests are not in it; they are counted
// apart. The registry here is unauthenticated, so there are no token
// requests to make.
type bound struct {
	Catalog        int // catalog pages
	Lists          int // tags/list pages, first look
	Heads          int // re-run with a cache (-nightly, day two): one HEAD per tag
	Manifests      int // one manifest GET per tag (re-run: per new digest)
	Children       int // one manifest GET per distinct index child (an index's age is its children's created)
	Configs        int // one config GET per distinct image (per repository)
	SecondLists    int // tags/list pages again, in each repository with a deletion
	SecondHeads    int // one HEAD per tag, in each repository with a deletion
	DigestDeletes  int // one DELETE per tagged digest removed
	TagDeletes     int // one DELETE per stale tag on a digest a kept tag shares
	ChildDeletes   int // one DELETE per untagged child that only deleted indexes reach
	ReposWithWork  int
	TaggedStale    int // stale tags
	TaggedKept     int
	BoundaryRepos  int
	DistinctTagged int
}

func computeBound(ds *dataset) bound {
	b := bound{Catalog: pages(len(ds.Repos)), BoundaryRepos: ds.Boundary}
	for _, m := range ds.Repos {
		b.Lists += pages(len(m.Tags))
		b.Manifests += len(m.Tags)
		b.Children += m.Children
		b.Configs += m.Configs
		b.TaggedKept += len(m.Keep)
		b.TaggedStale += len(m.Tags) - len(m.Keep)
		digests := map[string]bool{}
		for _, t := range m.Tags {
			digests[t.Digest] = true
		}
		b.DistinctTagged += len(digests)
		if m.DigestDeletes+m.TagDeletes > 0 {
			b.ReposWithWork++
			b.SecondLists += pages(len(m.Tags))
			b.SecondHeads += len(m.Tags)
		}
		b.DigestDeletes += m.DigestDeletes
		b.TagDeletes += m.TagDeletes
		b.ChildDeletes += m.ChildDeletes
	}
	return b
}

func (b bound) Deletes() int { return b.DigestDeletes + b.TagDeletes + b.ChildDeletes }

func (b bound) Total() int {
	return b.Catalog + b.Lists + b.Heads + b.Manifests + b.Children + b.Configs + b.SecondLists + b.SecondHeads + b.Deletes()
}

// byRoute is the bound split the way the proxy counts.
func (b bound) byRoute() map[string]int {
	return map[string]int{
		"GET catalog":     b.Catalog,
		"GET tags":        b.Lists + b.SecondLists,
		"GET manifest":    b.Manifests + b.Children,
		"GET blob":        b.Configs,
		"HEAD manifest":   b.Heads + b.SecondHeads,
		"DELETE manifest": b.Deletes(),
	}
}

// pingRoutes are the requests outside the bound that every client makes
// to learn how to authenticate: the /v2/ ping. Token requests would go to
// a token service; this registry has none.
func isPing(route string) bool { return route == "GET base" }
