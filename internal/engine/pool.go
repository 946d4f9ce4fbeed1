package engine

import (
	"context"
	"sync"

	"github.com/tagsweep/tagsweep/internal/registry"
)

// pool is the one bound on the engine's own work: Concurrency slots, shared
// by every repository and every phase, and the only way to the backend. A
// goroutine calls the backend only while it holds a slot, so the engine
// never has more than Concurrency calls in flight, however many
// repositories are worked on at once (the requests under those calls wait
// on the registry.Limiter at the bottom of each backend's HTTP stack).
//
// Two kinds of goroutine use it, and neither nests:
//   - a repository's own goroutine (Run runs at most Concurrency of them)
//     holds no slot; it calls the backend through call or do, which take a
//     slot for that one call, and fans work out through tasks;
//   - a task holds one slot for its whole life and calls the backend it is
//     given directly; it never starts tasks nor calls call or do, which
//     would wait for a slot while holding one.
type pool struct {
	b     registry.Backend
	slots chan struct{}
}

func newPool(b registry.Backend, n int) *pool {
	return &pool{b: b, slots: make(chan struct{}, n)}
}

// do runs f on the calling goroutine with the backend, holding one slot.
func (p *pool) do(f func(b registry.Backend)) {
	p.slots <- struct{}{}
	defer func() { <-p.slots }()
	f(p.b)
}

// call runs f on the calling goroutine with the backend, holding one slot,
// and returns what f returns.
func call[T any](p *pool, f func(b registry.Backend) (T, error)) (v T, err error) {
	p.do(func(b registry.Backend) { v, err = f(b) })
	return v, err
}

// tasks is a set of tasks run in the pool, like an errgroup.Group whose
// limit is shared with every other set: Go waits for a free slot, so at
// most Concurrency tasks run (and exist) at once over the whole engine.
type tasks struct {
	p      *pool
	wg     sync.WaitGroup
	cancel context.CancelCauseFunc
	once   sync.Once
	err    error
}

// tasks returns an empty set of tasks.
func (p *pool) tasks() *tasks { return &tasks{p: p} }

// tasksWithContext returns an empty set of tasks and a context derived
// from ctx that ends when a task returns an error or Wait returns.
func (p *pool) tasksWithContext(ctx context.Context) (*tasks, context.Context) {
	ctx, cancel := context.WithCancelCause(ctx)
	return &tasks{p: p, cancel: cancel}, ctx
}

// Go waits for a slot, then runs f in a goroutine of its own holding it.
// The first error a task returns is Wait's.
func (t *tasks) Go(f func(b registry.Backend) error) {
	t.p.slots <- struct{}{}
	t.wg.Add(1)
	go func() {
		defer func() {
			<-t.p.slots
			t.wg.Done()
		}()
		if err := f(t.p.b); err != nil {
			t.once.Do(func() {
				t.err = err
				if t.cancel != nil {
					t.cancel(err)
				}
			})
		}
	}()
}

// Wait waits for every task started and returns the first error.
func (t *tasks) Wait() error {
	t.wg.Wait()
	if t.cancel != nil {
		t.cancel(t.err)
	}
	return t.err
}
