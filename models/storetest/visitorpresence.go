package storetest

import (
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
	must(t, "add", s.AddVisitorConnection(ctx, "i1", "v1", t0))
	must(t, "add", s.AddVisitorConnection(ctx, "i1", "v1", t0)) // a second tab
	if !mustElsewhere(t, s, "v1", "i2", since) {
		t.Error("v1 on i1: not seen from i2")
	}
	if mustElsewhere(t, s, "v1", "i1", since) {
		t.Error("v1 on i1 only: i1 sees it elsewhere; its own sockets are not elsewhere")
	}
	if mustElsewhere(t, s, "v2", "i2", since) {
		t.Error("another visitor is seen connected")
	}
	must(t, "remove", s.RemoveVisitorConnection(ctx, "i1", "v1"))
	if !mustElsewhere(t, s, "v1", "i2", since) {
		t.Error("one of two tabs closed: v1 no longer seen")
	}
	must(t, "remove", s.RemoveVisitorConnection(ctx, "i1", "v1"))
	if mustElsewhere(t, s, "v1", "i2", since) {
		t.Error("both tabs closed: v1 still seen")
	}
	must(t, "remove where there is none", s.RemoveVisitorConnection(ctx, "i1", "v1"))
	must(t, "add", s.AddVisitorConnection(ctx, "i1", "v1", t0))
	if !mustElsewhere(t, s, "v1", "i2", since) {
		t.Error("a removal past zero ate a later connection")
	}
}

func testVisitorPresenceBeats(t *testing.T, s models.Store) {
	ctx := t.Context()
	t0 := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	must(t, "add", s.AddVisitorConnection(ctx, "i1", "v1", t0))
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
	must(t, "add", s.AddVisitorConnection(ctx, "dead", "v1", t0))
	must(t, "add", s.AddVisitorConnection(ctx, "live", "v2", t0))
	must(t, "add", s.AddVisitorConnection(ctx, "never-beat", "v3", t0))
	must(t, "add", s.AddVisitorConnection(ctx, "starting", "v4", t0.Add(time.Hour)))
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

func testVisitorPresenceConcurrent(t *testing.T, s models.Store) {
	ctx := t.Context()
	t0 := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	must(t, "beat", s.BeatInstance(ctx, "i1", t0))
	const n = 20
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.AddVisitorConnection(ctx, "i1", "v1", t0); err != nil {
				t.Errorf("add: %v", err)
			}
		}()
	}
	wg.Wait()
	for i := 0; i < n-1; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.RemoveVisitorConnection(ctx, "i1", "v1"); err != nil {
				t.Errorf("remove: %v", err)
			}
		}()
	}
	wg.Wait()
	if !mustElsewhere(t, s, "v1", "i2", t0) {
		t.Fatalf("%d concurrent adds then %d removes: the visitor is gone; an add was lost", n, n-1)
	}
	must(t, "remove", s.RemoveVisitorConnection(ctx, "i1", "v1"))
	if mustElsewhere(t, s, "v1", "i2", t0) {
		t.Fatal("as many removes as adds: the visitor is still there")
	}
}

func testVisitorPresenceInvalid(t *testing.T, s models.Store) {
	ctx := t.Context()
	now := time.Now()
	for what, err := range map[string]error{
		"add without instance":   s.AddVisitorConnection(ctx, "", "v", now),
		"add without visitor":    s.AddVisitorConnection(ctx, "i", "", now),
		"remove without visitor": s.RemoveVisitorConnection(ctx, "i", ""),
		"beat without instance":  s.BeatInstance(ctx, "", now),
		"leave without instance": s.LeaveInstance(ctx, ""),
	} {
		if got := models.ErrorCode(err); got != models.EINVALID {
			t.Errorf("%s: %q (%v), want %q", what, got, err, models.EINVALID)
		}
	}
}
