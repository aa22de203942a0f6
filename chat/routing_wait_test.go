package chat

import (
	"testing"
	"time"
)

func TestEstimateWait(t *testing.T) {
	for _, tc := range []struct {
		name     string
		position int
		avg      time.Duration
		slots    int
		want     int
		ok       bool
	}{
		{"first of one slot", 1, 4 * time.Minute, 1, 240, true},
		{"third of six slots", 3, 4 * time.Minute, 6, 120, true},
		{"rounds up", 1, 1500 * time.Millisecond, 1, 2, true},
		{"no history", 1, 0, 5, 0, false},
		{"nobody online", 1, time.Minute, 0, 0, false},
		{"no position", 0, time.Minute, 1, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := EstimateWait(tc.position, tc.avg, tc.slots)
			if got != tc.want || ok != tc.ok {
				t.Errorf("EstimateWait(%d, %v, %d) = %d, %v; want %d, %v", tc.position, tc.avg, tc.slots, got, ok, tc.want, tc.ok)
			}
		})
	}
}
