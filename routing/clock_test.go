package routing

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestFakeClock(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	t.Run("runs due timers in time order with the clock at their time", func(t *testing.T) {
		c := NewFakeClock(t0)
		var got []string
		rec := func(name string) func() {
			return func() { got = append(got, fmt.Sprintf("%s@%s", name, c.Now().Sub(t0))) }
		}
		c.AfterFunc(3*time.Second, rec("c"))
		c.AfterFunc(1*time.Second, rec("a"))
		c.AfterFunc(1*time.Second, rec("a2")) // same time: creation order
		c.AfterFunc(10*time.Second, rec("late"))
		c.AfterFunc(2*time.Second, func() {
			rec("b")()
			c.AfterFunc(0, rec("b-child")) // created inside a timer, due at once
		})
		c.Advance(5 * time.Second)
		want := []string{"a@1s", "a2@1s", "b@2s", "b-child@2s", "c@3s"}
		if !slices.Equal(got, want) {
			t.Errorf("ran %v, want %v", got, want)
		}
		if got, want := c.Now(), t0.Add(5*time.Second); !got.Equal(want) {
			t.Errorf("Now() = %v, want %v", got, want)
		}
		if got, want := c.PendingTimers(), 1; got != want {
			t.Errorf("PendingTimers() = %d, want %d", got, want)
		}
	})
	t.Run("stop", func(t *testing.T) {
		c := NewFakeClock(t0)
		ran := false
		tm := c.AfterFunc(time.Second, func() { ran = true })
		if !tm.Stop() {
			t.Error("first Stop() = false, want true")
		}
		if tm.Stop() {
			t.Error("second Stop() = true, want false")
		}
		c.Advance(time.Hour)
		if ran {
			t.Error("stopped timer ran")
		}
		fired := c.AfterFunc(time.Second, func() {})
		c.Advance(time.Second)
		if fired.Stop() {
			t.Error("Stop() after firing = true, want false")
		}
	})
	t.Run("timer may stop another due timer", func(t *testing.T) {
		c := NewFakeClock(t0)
		ran := false
		var second Timer
		c.AfterFunc(time.Second, func() { second.Stop() })
		second = c.AfterFunc(2*time.Second, func() { ran = true })
		c.Advance(3 * time.Second)
		if ran {
			t.Error("timer stopped by an earlier timer ran")
		}
	})
}
