// Package chaos is a TCP proxy for tests that cuts connections at random
// moments, as a phone leaving wifi or a flaky office network would. It
// listens on 127.0.0.1, forwards each connection to a target, and closes
// both sides abruptly (RST, mid-frame if it happens to be) after a lifetime
// drawn from a seeded random source, until a bounded number of cuts is
// reached or Calm is called; Storm starts the cutting again (or for the
// first time, for a proxy made calm so that pages could load). The cut moments are reproducible for a seed as
// far as the order of accepted connections is; what traffic they hit
// depends on the scheduler, which is the point.
//
// A Proxy is safe for concurrent use. Close stops accepting, closes every
// connection and waits for the proxy's goroutines.
package chaos

import (
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Options tune the cutting. Zero values get the defaults below.
type Options struct {
	// Seed makes the lifetimes reproducible.
	Seed uint64
	// MinLife and MaxLife bound how long a connection lives before it is
	// cut; defaults 50 ms and 1 s.
	MinLife, MaxLife time.Duration
	// MaxCuts bounds the cuts; after that connections live until closed.
	// 0 means no cuts at all (a plain proxy until Cut or CutAll).
	MaxCuts int
	// Calm starts the proxy calm, as if Calm had been called: no cuts
	// until Storm.
	Calm bool
}

// Proxy forwards 127.0.0.1:random to a target and cuts connections.
type Proxy struct {
	target string
	ln     net.Listener
	o      Options

	mu    sync.Mutex
	rnd   *rand.Rand
	conns map[*pair]struct{}
	calm  bool
	// storm is closed, and replaced, by Storm: connections without a
	// lifetime get one then.
	storm chan struct{}

	cuts     atomic.Int64
	accepted atomic.Int64
	wg       sync.WaitGroup
	closed   chan struct{}
	once     sync.Once
}

type pair struct {
	client, server net.Conn
	once           sync.Once
}

// cut closes both sides with RST.
func (p *pair) cut() {
	p.once.Do(func() {
		for _, c := range []net.Conn{p.client, p.server} {
			if t, ok := c.(*net.TCPConn); ok {
				_ = t.SetLinger(0)
			}
			_ = c.Close()
		}
	})
}

// New starts a proxy to target (host:port).
func New(target string, o Options) (*Proxy, error) {
	if o.MinLife <= 0 {
		o.MinLife = 50 * time.Millisecond
	}
	if o.MaxLife < o.MinLife {
		o.MaxLife = max(time.Second, o.MinLife)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, ln: ln, o: o, rnd: rand.New(rand.NewPCG(o.Seed, o.Seed+1)),
		conns: make(map[*pair]struct{}), closed: make(chan struct{}), storm: make(chan struct{}), calm: o.Calm}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cuts returns how many connections the proxy cut so far.
func (p *Proxy) Cuts() int { return int(p.cuts.Load()) }

// Accepted returns how many connections the proxy accepted so far.
func (p *Proxy) Accepted() int { return int(p.accepted.Load()) }

// Calm stops random cuts: from now on connections live until closed.
func (p *Proxy) Calm() {
	p.mu.Lock()
	p.calm = true
	p.mu.Unlock()
}

// Storm (re)starts random cuts after Calm, within MaxCuts: connections
// accepted from now on get a random lifetime, and so do those open now,
// counted from now. A test makes the proxy calm while its pages load, then
// lets the storm hit the connections they keep open.
func (p *Proxy) Storm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calm = false
	close(p.storm)
	p.storm = make(chan struct{})
}

// CutAll cuts every open connection now (counted in Cuts).
func (p *Proxy) CutAll() {
	p.mu.Lock()
	var ps []*pair
	for c := range p.conns {
		ps = append(ps, c)
	}
	p.mu.Unlock()
	for _, c := range ps {
		p.cuts.Add(1)
		c.cut()
	}
}

// Close stops the proxy and closes all its connections.
func (p *Proxy) Close() error {
	p.once.Do(func() {
		close(p.closed)
		p.ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.cut()
		}
		p.mu.Unlock()
	})
	p.wg.Wait()
	return nil
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		p.wg.Add(1)
		go p.serve(c)
	}
}

// life returns how long a connection lives from now, or 0 for "until
// closed", and the channel that Storm will close.
func (p *Proxy) life() (time.Duration, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.calm || p.o.MaxCuts == 0 {
		return 0, p.storm
	}
	return p.o.MinLife + time.Duration(p.rnd.Int64N(int64(p.o.MaxLife-p.o.MinLife)+1)), p.storm
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		client.Close()
		return
	}
	pr := &pair{client: client, server: server}
	p.mu.Lock()
	select {
	case <-p.closed:
		p.mu.Unlock()
		pr.cut()
		return
	default:
	}
	p.conns[pr] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, pr)
		p.mu.Unlock()
	}()

	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// One side ended: end the other too (a half-close would keep a
		// websocket peer waiting for nothing).
		pr.cut()
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)

	var (
		timer <-chan time.Time
		storm <-chan struct{}
		t     *time.Timer
	)
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	arm := func() {
		var d time.Duration
		d, storm = p.life()
		if d > 0 {
			t = time.NewTimer(d)
			timer = t.C
			storm = nil // it has its lifetime; a later Storm changes nothing
		}
	}
	arm()
	got := 0
wait:
	for {
		select {
		case <-done:
			got = 1
			break wait
		case <-timer:
			if p.tryCut() {
				pr.cut()
			}
			break wait
		case <-storm:
			arm()
		case <-p.closed:
			pr.cut()
			break wait
		}
	}
	// Wait for both pipes whether or not we cut: a timer that fired after
	// Calm or past MaxCuts leaves the connection alone until it ends.
	for ; got < 2; got++ {
		select {
		case <-done:
		case <-p.closed:
			pr.cut()
			<-done
		}
	}
}

// tryCut counts a cut if the budget allows one.
func (p *Proxy) tryCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.calm || int(p.cuts.Load()) >= p.o.MaxCuts {
		return false
	}
	p.cuts.Add(1)
	return true
}
