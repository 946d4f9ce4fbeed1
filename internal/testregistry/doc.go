// Package testregistry starts real container registries on 127.0.0.1 for
// end-to-end tests, demos and benchmarks of tagsweep, and provides helpers to
// seed them with images, indexes, signatures and referrers and to verify that
// everything a tag points to can still be pulled.
//
// Three kinds of registry are available, all plain HTTP on loopback without
// authentication:
//
//   - [New] runs the CNCF distribution v3 registry in-process, on a
//     filesystem storage root, with its real garbage collector ([Registry.GC]).
//     It has no OCI referrers API; clients use the referrers tag schema
//     ("sha256-<hex>") instead.
//   - [NewOCIRegistry] runs go-containerregistry's in-memory registry with
//     the OCI 1.1 referrers API enabled.
//   - [StartLegacy] runs a CNCF distribution 2.8 binary (Debian's
//     docker-registry) as a child process behind an in-process proxy.
//
// All three implement [Server]: every request they receive is counted by
// method and [RouteClass], DELETE requests are logged in order, and a [Hook]
// can answer requests in place of the registry to inject faults.
//
// The seeding helpers ([PushImage], [PushIndex], [PushCosignSignature],
// [PushReferrer], ...) and the checks ([VerifyPull], [Exists], [ListTags])
// take references such as "127.0.0.1:5000/app:v1"; they speak plain HTTP and
// return errors rather than taking a testing.T, so that non-test code can use
// them. Content is deterministic: the same spec and seed always produce the
// same digests.
//
// [NewFaultProxy] puts a seeded fault-injecting reverse proxy in front of
// any of them (resets, truncated bodies, 429/5xx with and without
// Retry-After, latency, DELETEs carried out whose answer is lost): the same
// seed gives the same faults per request, whatever the timing.
package testregistry
