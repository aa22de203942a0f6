package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
)

// visitorPresenceTests are the VisitorPresenceStore contract's subtests.
var visitorPresenceTests = []struct {
	name string
	fn   func(t *testing.T, s models.Store)
}{
	{"VisitorPresenceCounts", testVisitorPresenceCounts},
	{"VisitorPresenceBeatsAndLeave", testVisitorPresenceBeats},
	{"VisitorPresencePrune", testVisitorPresencePrune},
	{"VisitorPresenceConcurrent", testVisitorPresenceConcurrent},
	{"VisitorPresenceInvalid", testVisitorPresenceInvalid},
}

func mustElsewhere(t *testing.T, s models.Store, visitor, instance string, since time.Time) bool {
	t.Helper()
	ok, err := s.VisitorConnectedElsewhere(t.Context(), visitor, instance, since)
	if err != nil {
		t.Fatalf("VisitorConnectedElsewhere(%s, %s): %v", visitor, instance, err)
	}
	return ok
}

// change applies deltas of one instance.
func change(t *testing.T, s models.Store, instance string, deltas map[string]int, now time.Time) {
	t.Helper()
	if err := s.ChangeVisitorConnections(t.Context(), instance, deltas, now); err != nil {
		t.Fatalf("ChangeVisitorConnections(%s, %v): %v", instance, deltas, err)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func testVisitorPresenceCounts(t *testing.T, s models.Store) {
	ctx := t.Context()
	t0 := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	since := t0.Add(-time.Second)
	must(t, "beat", s.BeatInstance(ctx, "i1", t0))
	must(t, "beat", s.BeatInstance(ctx, "i2", t0))
	if mustElsewhere(t, s, "v1", "i2", since) {
		t.Fatal("a visitor who never connected is connected elsewhere")
	}
	change(t, s, "i1", map[string]int{"v1": 2, "v2": 1}, t0) // v1 in two tabs
	change(t, s, "i1", map[string]int{"v2": -1}, t0)
	if !mustElsewhere(t, s, "v1", "i2", since) {
		t.Error("v1 on i1: not seen from i2")
	}
	if mustElsewhere(t, s, "v1", "i1", since) {
		t.Error("v1 on i1 only: i1 sees it elsewhere; its own sockets are not elsewhere")
	}
	if mustElsewhere(t, s, "v2", "i2", since) {
		t.Error("another visitor is seen connected")
	}
	change(t, s, "i1", map[string]int{"v1": -1}, t0)
	if !mustElsewhere(t, s, "v1", "i2", since) {
		t.Error("one of two tabs closed: v1 no longer seen")
	}
	change(t, s, "i1", map[string]int{"v1": -1}, t0)
	if mustElsewhere(t, s, "v1", "i2", since) {
		t.Error("both tabs closed: v1 still seen")
	}
	change(t, s, "i1", map[string]int{"v1": -1, "v3": -2}, t0) // none left, and none ever
	change(t, s, "i1", map[string]int{"v1": 1, "v3": 1}, t0)
	if !mustElsewhere(t, s, "v1", "i2", since) || !mustElsewhere(t, s, "v3", "i2", since) {
		t.Error("a removal past zero ate a later connection")
	}
	change(t, s, "i1", map[string]int{"v1": 0}, t0) // nothing to do
	change(t, s, "i1", nil, t0)
	if !mustElsewhere(t, s, "v1", "i2", since) {
		t.Error("an empty change removed a connection")
	}
}

func testVisitorPresenceBeats(t *testing.T, s models.Store) {
	ctx := t.Context()
	t0 := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	change(t, s, "i1", map[string]int{"v1": 1}, t0)
	if mustElsewhere(t, s, "v1", "i2", t0.Add(-time.Hour)) {
		t.Error("counted on an instance that never beat")
	}
	must(t, "beat", s.BeatInstance(ctx, "i1", t0))
	if !mustElsewhere(t, s, "v1", "i2", t0) {
		t.Error("not counted on an instance that beat at since")
	}
	if mustElsewhere(t, s, "v1", "i2", t0.Add(time.Millisecond)) {
		t.Error("counted on an instance whose last beat is before since (it died)")
	}
	must(t, "beat", s.BeatInstance(ctx, "i1", t0.Add(time.Minute)))
	if !mustElsewhere(t, s, "v1", "i2", t0.Add(time.Second)) {
		t.Error("a later beat does not count")
	}
	must(t, "leave", s.LeaveInstance(ctx, "i1"))
	if mustElsewhere(t, s, "v1", "i2", t0) {
		t.Error("counted after its instance left")
	}
	must(t, "beat", s.BeatInstance(ctx, "i1", t0.Add(time.Minute)))
	if mustElsewhere(t, s, "v1", "i2", t0) {
		t.Error("Leave kept the instance's visitor rows")
	}
}

func testVisitorPresencePrune(t *testing.T, s models.Store) {
	ctx := t.Context()
	t0 := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	must(t, "beat", s.BeatInstance(ctx, "dead", t0))
	must(t, "beat", s.BeatInstance(ctx, "live", t0.Add(time.Hour)))
	change(t, s, "dead", map[string]int{"v1": 1}, t0)
	change(t, s, "live", map[string]int{"v2": 1}, t0)
	change(t, s, "never-beat", map[string]int{"v3": 1}, t0)
	change(t, s, "starting", map[string]int{"v4": 1}, t0.Add(time.Hour))
	n, err := s.PruneInstances(ctx, t0.Add(time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("PruneInstances = %d, %v; want the one dead instance", n, err)
	}
	// The dead instance comes back (a stuck process): its old rows are gone.
	must(t, "beat", s.BeatInstance(ctx, "dead", t0.Add(time.Hour)))
	must(t, "beat", s.BeatInstance(ctx, "never-beat", t0.Add(time.Hour)))
	must(t, "beat", s.BeatInstance(ctx, "starting", t0.Add(time.Hour)))
	since := t0.Add(time.Hour)
	for _, tc := range []struct {
		visitor string
		want    bool
	}{{"v1", false}, {"v2", true}, {"v3", false}, {"v4", true}} {
		if got := mustElsewhere(t, s, tc.visitor, "other", since); got != tc.want {
			t.Errorf("after prune, %s connected = %v, want %v", tc.visitor, got, tc.want)
		}
	}
}

// testVisitorPresenceConcurrent: instances change their rows at once, for
// the same shoppers and many; none loses another's counts.
func testVisitorPresenceConcurrent(t *testing.T, s models.Store) {
	ctx := t.Context()
	t0 := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	const instances, shoppers = 6, 700 // more than one batch
	many := map[string]int{}
	for i := 0; i < shoppers; i++ {
		many[fmt.Sprintf("v%03d", i)] = 1 + i%3
	}
	var wg sync.WaitGroup
	for i := 0; i < instances; i++ {
		id := fmt.Sprintf("i%d", i)
		must(t, "beat", s.BeatInstance(ctx, id, t0))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.ChangeVisitorConnections(ctx, id, many, t0); err != nil {
				t.Errorf("change %s: %v", id, err)
			}
		}()
	}
	wg.Wait()
	// Every instance but i0 drops all: i0's counts alone remain.
	less := map[string]int{}
	for k, v := range many {
		less[k] = -v
	}
	for i := 1; i < instances; i++ {
		id := fmt.Sprintf("i%d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.ChangeVisitorConnections(ctx, id, less, t0); err != nil {
				t.Errorf("change %s: %v", id, err)
			}
		}()
	}
	wg.Wait()
	for _, v := range []string{"v000", "v350", "v699"} {
		if !mustElsewhere(t, s, v, "i1", t0) {
			t.Errorf("%s: i0's connection lost while the others changed theirs", v)
		}
		if mustElsewhere(t, s, v, "i0", t0) {
			t.Errorf("%s: the other instances dropped theirs, yet it is connected elsewhere than i0", v)
		}
	}
}

func testVisitorPresenceInvalid(t *testing.T, s models.Store) {
	ctx := t.Context()
	now := time.Now()
	for what, err := range map[string]error{
		"change without instance": s.ChangeVisitorConnections(ctx, "", map[string]int{"v": 1}, now),
		"change without visitor":  s.ChangeVisitorConnections(ctx, "i", map[string]int{"": 1}, now),
		"beat without instance":   s.BeatInstance(ctx, "", now),
		"leave without instance":  s.LeaveInstance(ctx, ""),
	} {
		if got := models.ErrorCode(err); got != models.EINVALID {
			t.Errorf("%s: %q (%v), want %q", what, got, err, models.EINVALID)
		}
	}
}
