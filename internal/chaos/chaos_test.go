package chaos

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echo starts a line echo server and returns its address.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func TestForwardsWithoutCuts(t *testing.T) {
	p, err := New(echo(t), Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for _, line := range []string{"one\n", "two\n"} {
		if _, err := io.WriteString(c, line); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := r.ReadString('\n')
		if err != nil || got != line {
			t.Fatalf("echo = %q, %v; want %q", got, err, line)
		}
	}
	if p.Cuts() != 0 || p.Accepted() != 1 {
		t.Errorf("cuts %d accepted %d, want 0 and 1", p.Cuts(), p.Accepted())
	}
}

func TestCutsAreBounded(t *testing.T) {
	const maxCuts = 3
	p, err := New(echo(t), Options{Seed: 7, MinLife: 10 * time.Millisecond, MaxLife: 30 * time.Millisecond, MaxCuts: maxCuts})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cut := 0
	for i := 0; i < maxCuts+2; i++ {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, err = c.Read(make([]byte, 1)) // nothing is sent: only a cut ends this early
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			cut++
		}
		c.Close()
	}
	if cut != maxCuts || p.Cuts() != maxCuts {
		t.Errorf("saw %d cuts, proxy counted %d; want %d", cut, p.Cuts(), maxCuts)
	}
}

func TestCutAllAndClose(t *testing.T) {
	p, err := New(echo(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "x"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	p.CutAll()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(buf); err == nil {
		t.Fatal("read after CutAll succeeded")
	}
	if p.Cuts() != 1 {
		t.Errorf("cuts = %d, want 1", p.Cuts())
	}
	p.Close()
	p.Close()
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Error("dial after Close succeeded")
	}
}

// TestStormCutsWhatCalmLetLive: a connection made while the proxy is calm
// is forwarded, and cut once Storm starts the cutting.
func TestStormCutsWhatCalmLetLive(t *testing.T) {
	p, err := New(echo(t), Options{Seed: 3, MinLife: 10 * time.Millisecond, MaxLife: 30 * time.Millisecond, MaxCuts: 1, Calm: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := io.WriteString(c, "calm\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := r.ReadString('\n'); err != nil || got != "calm\n" {
		t.Fatalf("echo while calm = %q, %v", got, err)
	}
	p.Storm()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second)) // bounds a failure only
	_, err = r.ReadByte()
	if ne, ok := err.(net.Error); err == nil || (ok && ne.Timeout()) {
		t.Fatalf("read after Storm = %v, want the connection cut", err)
	}
	if p.Cuts() != 1 {
		t.Errorf("cuts = %d, want 1", p.Cuts())
	}
}
