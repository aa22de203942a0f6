package handlers

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

func TestWorkPool(t *testing.T) {
	t.Run("runs every job, at most max at once", func(t *testing.T) {
		const max, callers, each = 3, 40, 25
		p := newWorkPool(max)
		defer p.close()
		var running, peak, ran atomic.Int64
		release := make(chan struct{})
		var wg sync.WaitGroup
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					p.run(func() {
						n := running.Add(1)
						for {
							old := peak.Load()
							if n <= old || peak.CompareAndSwap(old, n) {
								break
							}
						}
						<-release
						running.Add(-1)
						ran.Add(1)
					})
				}
			}()
		}
		close(release)
		wg.Wait()
		if got := ran.Load(); got != callers*each {
			t.Errorf("ran %d jobs, want %d", got, callers*each)
		}
		if got := peak.Load(); got > max {
			t.Errorf("%d jobs ran at once, want at most %d", got, max)
		}
		p.mu.Lock()
		n := p.n
		p.mu.Unlock()
		if n > max {
			t.Errorf("%d workers started, want at most %d", n, max)
		}
	})

	t.Run("a panic reaches the caller", func(t *testing.T) {
		p := newWorkPool(1)
		defer p.close()
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want boom", r)
			}
		}()
		p.run(func() { panic("boom") })
		t.Error("run returned after a panic")
	})

	t.Run("after close jobs run on the caller and no worker is left", func(t *testing.T) {
		before := runtime.NumGoroutine()
		p := newWorkPool(4)
		p.run(func() {})
		p.close()
		p.close()
		if n := runtime.NumGoroutine(); n > before {
			t.Errorf("%d goroutines after close, want at most %d", n, before)
		}
		ran := false
		p.run(func() { ran = true })
		if !ran {
			t.Error("a job after close did not run")
		}
	})
}
