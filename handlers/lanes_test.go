package handlers

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// A slow frame holds up only its own conversation; each conversation's
// frames run in arrival order; a barrier waits for everything before it.
func TestLanes(t *testing.T) {
	l := newLanes()
	release := make(chan struct{})
	var mu sync.Mutex
	var order []string
	record := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	l.do("a", func() { <-release; record("a1") })
	l.do("a", func() { record("a2") })
	bDone := make(chan struct{})
	l.do("b", func() { record("b1"); close(bDone) })
	select {
	case <-bDone: // b ran although a's first frame is still blocked
	case <-time.After(30 * time.Second):
		t.Fatal("conversation b waited for conversation a")
	}
	close(release)
	l.barrier()
	mu.Lock()
	got := fmt.Sprint(order)
	mu.Unlock()
	if got != "[b1 a1 a2]" {
		t.Errorf("order %s, want [b1 a1 a2]", got)
	}
	if len(l.waiting) != 0 {
		t.Errorf("lanes left behind: %v", l.waiting)
	}
}

// Many frames over a few conversations: each conversation's frames run one
// at a time and in order, and the read loop is held back, not the memory
// grown, when too many are in flight.
func TestLanesKeepOrderUnderLoad(t *testing.T) {
	l := newLanes()
	const convs, per = 5, 200
	var mu sync.Mutex
	seen := map[string][]int{}
	active := map[string]int{}
	for i := range per {
		for c := range convs {
			key := fmt.Sprint("c", c)
			l.do(key, func() {
				mu.Lock()
				active[key]++
				if active[key] > 1 {
					t.Errorf("two frames of %s at once", key)
				}
				mu.Unlock()
				time.Sleep(10 * time.Microsecond)
				mu.Lock()
				active[key]--
				seen[key] = append(seen[key], i)
				mu.Unlock()
			})
			if n := len(l.slots); n > maxFramesInFlight {
				t.Fatalf("%d frames in flight, bound is %d", n, maxFramesInFlight)
			}
		}
	}
	l.barrier()
	for key, got := range seen {
		if len(got) != per {
			t.Errorf("%s: %d frames ran, want %d", key, len(got), per)
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("%s: frame %d ran at position %d", key, v, i)
			}
		}
	}
}
