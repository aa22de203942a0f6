package routing

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/kefu-chat/kefu/models"
)

// PresenceTarget is the part of a Dispatcher that SharedPresence drives:
// its presence API. *Dispatcher implements it.
type PresenceTarget interface {
	AgentConnected(agentID string) Presence
	AgentDisconnected(agentID string) Presence
	SetStatus(agentID string, s Status) error
	Presences() map[string]Presence
}

var _ PresenceTarget = (*Dispatcher)(nil)

// SharedPresenceOptions configure a SharedPresence. Zero fields get the
// documented defaults.
type SharedPresenceOptions struct {
	// InstanceID names this instance's rows; it must differ between the
	// instances sharing a database (a random ID per process start is
	// right). Required.
	InstanceID string
	// Heartbeat is how often rows are written and read; default 2s.
	Heartbeat time.Duration
	// Stale is how old another instance's row may be and still count;
	// default 3 × Heartbeat. An instance that dies loses its agents this
	// long after its last heartbeat, and their grace period starts then.
	Stale time.Duration
	// Clock defaults to SystemClock; it must be the Dispatcher's.
	Clock Clock
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// SharedPresence makes a Dispatcher's presence span every Kefu instance
// that shares the database. The database is the source of truth: every
// Heartbeat, Sync writes one row per agent connected to this instance
// (models.PresenceStore) and reads the fresh rows of the others. An agent
// connected elsewhere is mirrored into the local Dispatcher as one extra
// connection (a "remote" connection held by SharedPresence), with the
// status the other instance reports, so the Dispatcher offers them
// conversations, counts them as present when it requeues, and tells
// shoppers someone is there. When the agent's last fresh row goes (they
// left that instance, it shut down cleanly and deleted its rows, or it died
// and its rows went stale) the remote connection is dropped, which starts
// the Dispatcher's ordinary grace period unless the agent is connected
// here; when it runs out the Dispatcher requeues their conversations.
//
// Nothing here needs a leader: every instance runs its own Dispatcher over
// the same queue, and assignment and requeue are conditional store
// updates, so racing instances never assign a conversation twice or fill
// an agent over their cap (see docs/deploy.md for the failure modes).
//
// It uses only the Dispatcher's public presence API (PresenceTarget).
// Presence and Presences include the remote connection, so an agent
// connected only elsewhere shows one connection here. Sync and Leave are
// serialized; SharedPresence is safe for concurrent use.
type SharedPresence struct {
	d        PresenceTarget
	store    models.PresenceStore
	instance string
	beat     time.Duration
	stale    time.Duration
	clock    Clock
	log      *slog.Logger

	mu     sync.Mutex
	remote map[string]bool // agents holding a remote connection on d
	syncs  int
}

// NewSharedPresence returns a SharedPresence for d; call Run (or Sync
// yourself), then Leave when the instance shuts down. EINVALID without an
// InstanceID.
func NewSharedPresence(d PresenceTarget, store models.PresenceStore, o SharedPresenceOptions) (*SharedPresence, error) {
	if o.InstanceID == "" {
		return nil, models.Errorf(models.EINVALID, "shared presence needs an instance id")
	}
	p := &SharedPresence{d: d, store: store, instance: o.InstanceID, beat: o.Heartbeat, stale: o.Stale,
		clock: o.Clock, log: o.Logger, remote: map[string]bool{}}
	if p.beat <= 0 {
		p.beat = 2 * time.Second
	}
	if p.stale <= 0 {
		p.stale = 3 * p.beat
	}
	if p.clock == nil {
		p.clock = SystemClock{}
	}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return p, nil
}

// InstanceID returns the name of this instance's rows.
func (p *SharedPresence) InstanceID() string { return p.instance }

// pruneEvery is how many syncs pass between deletions of long-dead rows.
const pruneEvery = 30

// Sync makes one heartbeat: it writes this instance's rows, then mirrors
// the other instances' fresh rows into the Dispatcher. When the write or
// the read fails it changes nothing here: an instance that cannot reach
// the database keeps its view rather than dropping every remote agent (and
// could not requeue their conversations anyway).
func (p *SharedPresence) Sync(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	pres := p.d.Presences()
	rows := make([]models.AgentPresence, 0, len(pres))
	for id, pr := range pres {
		local := pr.Connections
		if p.remote[id] {
			local--
		}
		if local > 0 {
			rows = append(rows, models.AgentPresence{AgentID: id, Connections: local, Status: string(pr.Status)})
		}
	}
	if err := p.store.SyncPresence(ctx, p.instance, rows, now); err != nil {
		return err
	}
	fresh, err := p.store.FreshPresence(ctx, now.Add(-p.stale))
	if err != nil {
		return err
	}
	// An agent connected to several other instances is online if any says so.
	elsewhere := map[string]Status{}
	for _, r := range fresh {
		if r.InstanceID == p.instance {
			continue
		}
		if st := Status(r.Status); elsewhere[r.AgentID] != StatusOnline {
			elsewhere[r.AgentID] = st
		}
	}
	ids := make([]string, 0, len(elsewhere))
	for id := range elsewhere {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		st := elsewhere[id]
		if st != StatusOnline && st != StatusAway {
			st = StatusAway // unknown: present, but give them nothing new
		}
		local := pres[id].Connections
		if p.remote[id] {
			local--
		} else {
			p.d.AgentConnected(id)
			p.remote[id] = true
			p.log.Debug("routing: agent present on another instance", "agent", id)
		}
		// With connections here the agent's status is set here; otherwise
		// it is the other instances'.
		if local <= 0 {
			if cur := p.d.Presences()[id]; cur.Status != st {
				if err := p.d.SetStatus(id, st); err != nil {
					p.log.Warn("routing: mirroring a remote status", "agent", id, "err", err)
				}
			}
		}
	}
	gone := make([]string, 0)
	for id := range p.remote {
		if _, ok := elsewhere[id]; !ok {
			gone = append(gone, id)
		}
	}
	sort.Strings(gone)
	for _, id := range gone {
		delete(p.remote, id)
		p.d.AgentDisconnected(id)
		p.log.Info("routing: agent no longer present on another instance", "agent", id)
	}
	p.syncs++
	if p.syncs%pruneEvery == 0 {
		// Rows this old belong to instances long dead; nobody reads them.
		if _, err := p.store.PrunePresence(ctx, now.Add(-10*p.stale)); err != nil {
			p.log.Warn("routing: pruning presence", "err", err)
		}
	}
	return nil
}

// Run syncs at once and then every Heartbeat until ctx ends, logging
// failures; it returns ctx's error. It does not Leave: call Leave after.
func (p *SharedPresence) Run(ctx context.Context) error {
	for {
		if err := p.Sync(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("routing: presence heartbeat failed", "err", err)
		}
		done := make(chan struct{})
		t := p.clock.AfterFunc(p.beat, func() { close(done) })
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-done:
		}
	}
}

// Leave deletes this instance's rows, so the other instances see at their
// next heartbeat that its agents left (rather than after Stale), and their
// grace periods start at once. Call it on clean shutdown, after the
// instance's sockets closed. It is safe to call more than once.
func (p *SharedPresence) Leave(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.store.SyncPresence(ctx, p.instance, nil, p.clock.Now())
}
