package handlers

import "sync"

// workPool runs functions on a few long-lived goroutines, for callers that
// wait for them. It exists for the shopper's hello (see visitorHello): a
// websocket handler's goroutine lives as long as its socket, and its stack
// stays as large as the deepest call it ever made until the garbage
// collector halves it (never below twice what the parked read loop uses).
// Decoding the hello, the store's visitor lookup or insert (GORM and
// SQLite go deep) and encoding the welcome grew every shopper's goroutine
// to 8 KiB and more, and the copying as it grew was a fifth of the CPU a
// connect cost. On the pool's goroutines that depth is reached once and
// reused; an idle shopper's goroutine stays at its first 4 KiB.
//
// It also bounds how many hellos reach the store at once: the rest wait
// their turn instead of piling onto the store's locks.
type workPool struct {
	max  int
	jobs chan func() // unbuffered: a send succeeds only into a free worker
	quit chan struct{}

	mu     sync.Mutex
	n      int // workers started
	closed bool
	wg     sync.WaitGroup
}

func newWorkPool(max int) *workPool {
	return &workPool{max: max, jobs: make(chan func()), quit: make(chan struct{})}
}

// run calls f on a worker and returns when f has returned. A panic in f is
// raised again on the caller's goroutine, where the handler's recovery
// sees it. After close, f runs on the caller's goroutine.
func (p *workPool) run(f func()) {
	done := make(chan any, 1)
	job := func() {
		defer func() { done <- recover() }()
		f()
	}
	select {
	case p.jobs <- job: // a worker was free
	default:
		p.mu.Lock()
		start := !p.closed && p.n < p.max
		if start {
			p.n++
			p.wg.Add(1)
		}
		p.mu.Unlock()
		if start {
			go p.work(job)
			break
		}
		select {
		case p.jobs <- job:
		case <-p.quit:
			f()
			return
		}
	}
	if r := <-done; r != nil {
		panic(r)
	}
}

func (p *workPool) work(first func()) {
	defer p.wg.Done()
	first()
	for {
		select {
		case f := <-p.jobs:
			f()
		case <-p.quit:
			return
		}
	}
}

// close stops the workers once they finish what they run and waits for
// them. It is safe to call more than once.
func (p *workPool) close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.quit)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
