package chat

import (
	"context"
	"io"
	"log/slog"
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
// instance adds a row per shopper connected to it (Opened, Closed), beats
// every Heartbeat so that its rows count, and a shopper with no socket
// here is connected if another instance with a fresh beat has a row for
// them. An instance that dies stops beating, and its shoppers count as
// away Stale later. It is safe for concurrent use.
type VisitorTracker struct {
	local LocalVisitors
	o     VisitorTrackerOptions
	syncs int // Run's beats; only Run's goroutine touches it
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
	if o.Stale <= 0 {
		o.Stale = 3 * o.Heartbeat
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &VisitorTracker{local: local, o: o}, nil
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

// Opened records a socket of the shopper on this instance. It reports
// whether it was recorded: call Closed only then, so that a failed write
// is never followed by a removal of another socket's count. Alone, it
// records nothing (the hub knows).
func (t *VisitorTracker) Opened(ctx context.Context, visitorID string) bool {
	if t.o.Store == nil {
		return false
	}
	if err := t.o.Store.AddVisitorConnection(ctx, t.o.InstanceID, visitorID, t.o.Now()); err != nil {
		t.o.Logger.Warn("recording a shopper's connection for the other instances", "err", err)
		return false
	}
	return true
}

// Closed records that a socket Opened recorded has closed. It uses a
// context of its own: the socket's is usually done by then.
func (t *VisitorTracker) Closed(visitorID string) {
	if t.o.Store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := t.o.Store.RemoveVisitorConnection(ctx, t.o.InstanceID, visitorID); err != nil {
		// The row stays until this instance leaves or is pruned: the
		// shopper may be thought present, and not mailed, meanwhile.
		t.o.Logger.Warn("recording that a shopper left, for the other instances", "err", err)
	}
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

// Run beats at once and then every Heartbeat until ctx ends; it returns
// ctx's error. Alone, it returns at once.
func (t *VisitorTracker) Run(ctx context.Context) error {
	if t.o.Store == nil {
		return nil
	}
	tick := time.NewTicker(t.o.Heartbeat)
	defer tick.Stop()
	for {
		if err := t.Beat(ctx); err != nil && ctx.Err() == nil {
			t.o.Logger.Warn("instance beat failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Leave deletes this instance's beat and shoppers' rows; call it on clean
// shutdown, after the sockets closed.
func (t *VisitorTracker) Leave(ctx context.Context) error {
	if t.o.Store == nil {
		return nil
	}
	return t.o.Store.LeaveInstance(ctx, t.o.InstanceID)
}
