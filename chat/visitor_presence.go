package chat

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/kefu-chat/kefu/models"
)

// LocalVisitors counts a shopper's sockets on this instance; the hub
// implements it.
type LocalVisitors interface {
	VisitorConnections(visitorID string) int
}

// VisitorTrackerOptions configure a VisitorTracker. Zero fields get the
// documented defaults.
type VisitorTrackerOptions struct {
	// Store, when set, shares shoppers' presence with the other instances
	// on the database (several instances); nil means this instance is
	// alone and its hub knows everything.
	Store models.VisitorPresenceStore
	// InstanceID names this instance's rows; required with Store, and the
	// same as its agents' presence rows' (a random id per process start).
	InstanceID string
	// Heartbeat is how often the instance's beat is written; default 2s.
	Heartbeat time.Duration
	// FlushEvery is how often shoppers' arrivals and departures are
	// written, together; default 100ms. It is how late another instance
	// may learn of them.
	FlushEvery time.Duration
	// Stale is how old another instance's beat may be and its shoppers
	// still count; default 3 × Heartbeat.
	Stale time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// VisitorTracker says whether a shopper has a widget open, on this
// instance or any other: it is the VisitorPresence of the away mail. Alone,
// it asks the hub. With peers, the database is the source of truth: this
// instance counts its shoppers' sockets in rows of its own (Opened and
// Closed gather the changes; Run writes them every FlushEvery, all in one
// transaction, so ten thousand shoppers arriving or leaving at once cost a
// few statements rather than ten thousand), beats every Heartbeat so that
// its rows count, and a shopper with no socket here is connected if
// another instance with a fresh beat has a row for them. Another instance
// learns of an arrival or a departure up to FlushEvery late. An instance
// that dies stops beating, and its shoppers count as away Stale later. It
// is safe for concurrent use.
type VisitorTracker struct {
	local LocalVisitors
	o     VisitorTrackerOptions
	syncs int // Run's beats; only Run's goroutine touches it

	mu      sync.Mutex
	pending map[string]int // visitor id → sockets opened minus closed, not yet written
}

var _ VisitorPresence = (*VisitorTracker)(nil)

// NewVisitorTracker returns a tracker over local and, if o.Store is set,
// the database. EINVALID for a Store without an InstanceID.
func NewVisitorTracker(local LocalVisitors, o VisitorTrackerOptions) (*VisitorTracker, error) {
	if o.Store != nil && o.InstanceID == "" {
		return nil, models.Errorf(models.EINVALID, "shared visitor presence needs an instance id")
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 2 * time.Second
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = 100 * time.Millisecond
	}
	if o.Stale <= 0 {
		o.Stale = 3 * o.Heartbeat
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &VisitorTracker{local: local, o: o, pending: map[string]int{}}, nil
}

// Shared reports whether the tracker shares presence through the database.
func (t *VisitorTracker) Shared() bool { return t.o.Store != nil }

// VisitorConnected implements VisitorPresence.
func (t *VisitorTracker) VisitorConnected(ctx context.Context, visitorID string) (bool, error) {
	if t.local.VisitorConnections(visitorID) > 0 {
		return true, nil
	}
	if t.o.Store == nil {
		return false, nil
	}
	return t.o.Store.VisitorConnectedElsewhere(ctx, visitorID, t.o.InstanceID, t.o.Now().Add(-t.o.Stale))
}

// Opened records a socket of the shopper on this instance, for the next
// flush. It reports whether it recorded anything: call Closed only then.
// Alone, it records nothing (the hub knows).
func (t *VisitorTracker) Opened(visitorID string) bool {
	if t.o.Store == nil {
		return false
	}
	t.change(visitorID, 1)
	return true
}

// Closed records that a socket Opened recorded has closed.
func (t *VisitorTracker) Closed(visitorID string) {
	if t.o.Store != nil {
		t.change(visitorID, -1)
	}
}

func (t *VisitorTracker) change(visitorID string, d int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending[visitorID] += d; t.pending[visitorID] == 0 {
		delete(t.pending, visitorID) // came and went between two flushes
	}
}

// Flush writes the changes gathered since the last flush. When the write
// fails they are kept for the next one, so no count drifts.
func (t *VisitorTracker) Flush(ctx context.Context) error {
	if t.o.Store == nil {
		return nil
	}
	t.mu.Lock()
	deltas := t.pending
	t.pending = map[string]int{}
	t.mu.Unlock()
	if len(deltas) == 0 {
		return nil
	}
	err := t.o.Store.ChangeVisitorConnections(ctx, t.o.InstanceID, deltas, t.o.Now())
	if err != nil {
		t.mu.Lock()
		for id, d := range deltas {
			t.pending[id] += d
			if t.pending[id] == 0 {
				delete(t.pending, id)
			}
		}
		t.mu.Unlock()
	}
	return err
}

// pruneEvery is how many beats pass between deletions of dead instances.
const pruneEvery = 30

// Beat writes this instance's beat, and now and then deletes the rows of
// instances dead for 10 × Stale.
func (t *VisitorTracker) Beat(ctx context.Context) error {
	if t.o.Store == nil {
		return nil
	}
	now := t.o.Now()
	if err := t.o.Store.BeatInstance(ctx, t.o.InstanceID, now); err != nil {
		return err
	}
	t.syncs++
	if t.syncs%pruneEvery == 0 {
		if _, err := t.o.Store.PruneInstances(ctx, now.Add(-10*t.o.Stale)); err != nil {
			t.o.Logger.Warn("pruning dead instances' shoppers", "err", err)
		}
	}
	return nil
}

// Run beats at once and then every Heartbeat, and flushes every
// FlushEvery, until ctx ends; it returns ctx's error. Alone, it returns at
// once.
func (t *VisitorTracker) Run(ctx context.Context) error {
	if t.o.Store == nil {
		return nil
	}
	beat := time.NewTicker(t.o.Heartbeat)
	defer beat.Stop()
	flush := time.NewTicker(t.o.FlushEvery)
	defer flush.Stop()
	for {
		if err := t.Beat(ctx); err != nil && ctx.Err() == nil {
			t.o.Logger.Warn("instance beat failed", "err", err)
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-beat.C:
				break wait
			case <-flush.C:
				if err := t.Flush(ctx); err != nil && ctx.Err() == nil {
					t.o.Logger.Warn("writing shoppers' presence for the other instances", "err", err)
				}
			}
		}
	}
}

// Leave deletes this instance's beat and shoppers' rows, and forgets what
// was not written; call it on clean shutdown, after Run returned.
func (t *VisitorTracker) Leave(ctx context.Context) error {
	if t.o.Store == nil {
		return nil
	}
	t.mu.Lock()
	t.pending = map[string]int{}
	t.mu.Unlock()
	return t.o.Store.LeaveInstance(ctx, t.o.InstanceID)
}
