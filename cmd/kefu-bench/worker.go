package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A worker holds a share of the idle shoppers, in this process (one
// goroutine set per loopback source address) or in a child process
// ("kefu-bench worker"), because one process may hold only so many open
// files. Parent and worker speak JSON lines: a command, then its answer.
type workerCmd struct {
	Cmd string `json:"cmd"` // connect, round, quit
	// URLs are the instances' shopper sockets, taken in turn, and Origins
	// the origin each one's pages have.
	URLs        []string `json:"urls,omitempty"`
	Origins     []string `json:"origins,omitempty"`
	N           int      `json:"n,omitempty"`
	Src         string   `json:"src,omitempty"`
	Concurrency int      `json:"concurrency,omitempty"`
	Round       int      `json:"round,omitempty"`
	T0          int64    `json:"t0,omitempty"`
	TimeoutMS   int      `json:"timeout_ms,omitempty"`
}

type workerEv struct {
	OK     int     `json:"ok,omitempty"`
	Failed int     `json:"failed,omitempty"`
	Err    string  `json:"err,omitempty"`
	Round  int     `json:"round,omitempty"`
	Lat    []int64 `json:"lat,omitempty"` // ns from T0 to receipt
	Missed int     `json:"missed,omitempty"`
}

// shopperSet is a worker's shoppers and what they received.
type shopperSet struct {
	mu    sync.Mutex
	conns []*rawConn
	recv  map[int][]int64 // round → receipt times (unix ns)
	cond  *sync.Cond
	live  atomic.Int64
	wg    sync.WaitGroup
}

func newShopperSet() *shopperSet {
	s := &shopperSet{recv: map[int][]int64{}}
	s.cond = sync.NewCond(&s.mu)
	return s
}

var roundMarker = []byte("bench round ")

// readLoop records each announcement's receipt time by its round number.
func (s *shopperSet) readLoop(c *rawConn) {
	defer s.wg.Done()
	defer s.live.Add(-1)
	for {
		data, err := c.readMessage()
		if err != nil {
			s.mu.Lock()
			s.cond.Broadcast()
			s.mu.Unlock()
			return
		}
		now := time.Now().UnixNano()
		if !bytes.Contains(data, []byte(`"type":"announcement",`)) {
			continue
		}
		i := bytes.Index(data, roundMarker)
		if i < 0 {
			continue
		}
		j := i + len(roundMarker)
		k := j
		for k < len(data) && data[k] >= '0' && data[k] <= '9' {
			k++
		}
		r, err := strconv.Atoi(string(data[j:k]))
		if err != nil {
			continue
		}
		s.mu.Lock()
		s.recv[r] = append(s.recv[r], now)
		s.cond.Broadcast()
		s.mu.Unlock()
	}
}

// dialShopper opens one shopper socket, says hello and waits for welcome.
func dialShopper(ctx context.Context, d *net.Dialer, u *url.URL, origin string) (*rawConn, error) {
	c, err := dialRaw(ctx, d, u, origin)
	if err != nil {
		return nil, err
	}
	hello := []byte(`{"type":"hello","lang":"en","page":{"url":"` + origin + `/bench","title":"Bench"}}`)
	if err := c.write(opText, hello, time.Now().Add(10*time.Second)); err != nil {
		c.nc.Close()
		return nil, err
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		data, err := c.readMessage()
		if err != nil {
			c.nc.Close()
			return nil, err
		}
		if bytes.Contains(data, []byte(`"type":"welcome"`)) {
			break
		}
	}
	_ = c.nc.SetReadDeadline(time.Time{})
	return c, nil
}

func (s *shopperSet) connect(cmd workerCmd) workerEv {
	if len(cmd.URLs) == 0 || len(cmd.Origins) != len(cmd.URLs) {
		return workerEv{Failed: cmd.N, Err: "connect: no shopper URLs, or not one origin per URL"}
	}
	us := make([]*url.URL, len(cmd.URLs))
	for i, raw := range cmd.URLs {
		u, err := url.Parse(raw)
		if err != nil {
			return workerEv{Failed: cmd.N, Err: err.Error()}
		}
		us[i] = u
	}
	// No TCP keep-alive: it costs four setsockopt calls per connect, and
	// the server pings.
	d := &net.Dialer{Timeout: 20 * time.Second, KeepAlive: -1}
	if cmd.Src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(cmd.Src)}
	}
	conc := max(cmd.Concurrency, 1)
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > int64(cmd.N) {
					return
				}
				k := int(n-1) % len(us)
				c, err := dialShopper(context.Background(), d, us[k], cmd.Origins[k])
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
				s.mu.Lock()
				s.conns = append(s.conns, c)
				s.mu.Unlock()
				s.live.Add(1)
				s.wg.Add(1)
				go s.readLoop(c)
			}
		}()
	}
	wg.Wait()
	ev := workerEv{OK: int(ok.Load()), Failed: int(failed.Load())}
	if e, _ := firstErr.Load().(string); e != "" {
		ev.Err = e
	}
	return ev
}

// round waits until every live shopper has the round's announcement, or
// the timeout, and reports latencies from T0.
func (s *shopperSet) round(cmd workerCmd) workerEv {
	deadline := time.Now().Add(time.Duration(cmd.TimeoutMS) * time.Millisecond)
	timer := time.AfterFunc(time.Until(deadline), func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer timer.Stop()
	s.mu.Lock()
	for int64(len(s.recv[cmd.Round])) < s.live.Load() && time.Now().Before(deadline) {
		s.cond.Wait()
	}
	got := s.recv[cmd.Round]
	delete(s.recv, cmd.Round)
	total := len(s.conns)
	s.mu.Unlock()
	lat := make([]int64, len(got))
	for i, t := range got {
		lat[i] = t - cmd.T0
	}
	return workerEv{Round: cmd.Round, Lat: lat, Missed: total - len(got)}
}

func (s *shopperSet) closeAll() {
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	s.wg.Wait()
}

// runWorker serves commands from in until quit or EOF.
func runWorker(in io.Reader, out io.Writer) error {
	s := newShopperSet()
	defer s.closeAll()
	sc := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		var cmd workerCmd
		if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
			return err
		}
		var ev workerEv
		switch cmd.Cmd {
		case "connect":
			ev = s.connect(cmd)
		case "round":
			ev = s.round(cmd)
		case "quit":
			s.closeAll()
			return enc.Encode(workerEv{})
		default:
			ev.Err = "unknown command " + cmd.Cmd
		}
		if err := enc.Encode(ev); err != nil {
			return err
		}
	}
	return sc.Err()
}

// worker is the parent's handle on one worker.
type worker struct {
	src  string
	enc  *json.Encoder
	dec  *json.Decoder
	proc *exec.Cmd
	done chan error
}

// startWorkers starts n workers with source addresses 127.0.0.2, …: in
// child processes when procs, else in this process.
func startWorkers(n int, procs bool) ([]*worker, error) {
	var ws []*worker
	for i := range n {
		w := &worker{src: fmt.Sprintf("127.0.0.%d", 2+i%250), done: make(chan error, 1)}
		if procs {
			exe, err := os.Executable()
			if err != nil {
				return nil, err
			}
			w.proc = exec.Command(exe, "worker")
			w.proc.Stderr = os.Stderr
			stdin, err := w.proc.StdinPipe()
			if err != nil {
				return nil, err
			}
			stdout, err := w.proc.StdoutPipe()
			if err != nil {
				return nil, err
			}
			if err := w.proc.Start(); err != nil {
				return nil, err
			}
			w.enc, w.dec = json.NewEncoder(stdin), json.NewDecoder(stdout)
			go func() { w.done <- w.proc.Wait() }()
		} else {
			cmdR, cmdW := io.Pipe()
			evR, evW := io.Pipe()
			w.enc, w.dec = json.NewEncoder(cmdW), json.NewDecoder(evR)
			go func() {
				err := runWorker(cmdR, evW)
				evW.CloseWithError(io.EOF)
				w.done <- err
			}()
		}
		ws = append(ws, w)
	}
	return ws, nil
}

// all sends each worker its command and collects the answers.
func all(ws []*worker, cmd func(i int, w *worker) workerCmd) ([]workerEv, error) {
	evs := make([]workerEv, len(ws))
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.enc.Encode(cmd(i, w)); err != nil {
				errs[i] = err
				return
			}
			errs[i] = w.dec.Decode(&evs[i])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return evs, err
		}
	}
	return evs, nil
}

func stopWorkers(ws []*worker) {
	_, _ = all(ws, func(int, *worker) workerCmd { return workerCmd{Cmd: "quit"} })
	for _, w := range ws {
		select {
		case <-w.done:
		case <-time.After(30 * time.Second):
			if w.proc != nil && w.proc.Process != nil {
				_ = w.proc.Process.Kill()
			}
		}
	}
}
