package chat

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
	"github.com/kefu-chat/kefu/routing"
)

// AnnouncementInput is what an admin asks to announce.
type AnnouncementInput struct {
	Text        string
	Link        string
	Level       models.AnnouncementLevel
	StartsAt    *time.Time
	ExpiresAt   *time.Time
	PagePattern string
	Langs       []string
}

// AnnouncerOptions configure an Announcer; zero fields get the defaults.
type AnnouncerOptions struct {
	// Clock drives the schedule; default routing.SystemClock.
	Clock routing.Clock
	// Recheck is the longest the scheduler sleeps without looking at the
	// store, so that schedules made on other instances are kept; default 5s.
	Recheck time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Announcer sends store-wide announcements: at once or at their start time,
// withdrawn by an admin or at expiry. It keeps the active ones, encoded
// once, for shoppers who connect later, and counts deliveries, batching
// them into the store. Several instances may run one each on a shared
// store: the store's conditional updates make exactly one send (or end)
// each announcement, and every instance's hub delivers the bus event.
//
// An Announcer is safe for concurrent use.
type Announcer struct {
	store models.Store
	bus   models.Bus
	clock routing.Clock
	opts  AnnouncerOptions
	log   *slog.Logger
	kick  chan struct{}
	sent  atomic.Int64

	// mu guards active. Sending to a connecting shopper holds the read
	// lock across reading and queueing, and removal takes the write lock
	// before the withdrawal is published, so a shopper never gets a
	// withdrawal before the announcement it withdraws.
	mu     sync.RWMutex
	active map[string]*activeAnnouncement

	countMu sync.Mutex
	counts  map[string]int64 // deliveries not yet stored
}

type activeAnnouncement struct {
	a     *models.Announcement
	match *models.Targeting
	frame []byte
}

// NewAnnouncer returns an Announcer; call Run to start its scheduler.
func NewAnnouncer(store models.Store, bus models.Bus, o AnnouncerOptions) *Announcer {
	if o.Clock == nil {
		o.Clock = routing.SystemClock{}
	}
	if o.Recheck <= 0 {
		o.Recheck = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Announcer{store: store, bus: bus, clock: o.Clock, opts: o, log: o.Logger,
		kick: make(chan struct{}, 1), active: map[string]*activeAnnouncement{}, counts: map[string]int64{}}
}

// SentCount returns how many announcements this instance has sent.
func (a *Announcer) SentCount() int64 { return a.sent.Load() }

// Kick makes the scheduler look at the store now.
func (a *Announcer) Kick() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

func (a *Announcer) now() time.Time { return a.clock.Now().UTC() }

// Create stores an announcement by admin and sends it at once, or leaves
// it to the scheduler when it starts later. With a non-empty idempotencyKey
// a retry by the same admin creates and sends nothing and returns the first
// one with existed true. EINVALID (or ETOOLARGE) for bad input, with
// nothing stored; EFORBIDDEN unless admin is an admin.
func (a *Announcer) Create(ctx context.Context, admin *models.Agent, in AnnouncementInput, idempotencyKey string) (ann *models.Announcement, existed bool, err error) {
	if admin == nil || admin.Role != models.RoleAdmin {
		return nil, false, models.Errorf(models.EFORBIDDEN, "only admins may announce")
	}
	if len(idempotencyKey) > 200 {
		return nil, false, models.Errorf(models.EINVALID, "Idempotency-Key is longer than 200 characters")
	}
	now := a.now()
	if in.ExpiresAt != nil && !in.ExpiresAt.After(now) {
		return nil, false, models.Errorf(models.EINVALID, "expires_at is in the past")
	}
	m := &models.Announcement{Text: in.Text, Link: strings.TrimSpace(in.Link), Level: in.Level,
		StartsAt: in.StartsAt, ExpiresAt: in.ExpiresAt, PagePattern: in.PagePattern,
		Langs: strings.Join(in.Langs, ","), CreatedBy: admin.ID, CreatedAt: now}
	if idempotencyKey != "" {
		m.IdempotencyKey = &idempotencyKey
	}
	ann, existed, err = a.store.CreateAnnouncement(ctx, m)
	if err != nil || existed {
		return ann, existed, err
	}
	if ann.StartsAt == nil || !ann.StartsAt.After(now) {
		if sent, err := a.store.MarkAnnouncementSent(ctx, ann.ID, now); err == nil {
			ann = sent
			a.send(ctx, sent)
		} else if models.ErrorCode(err) != models.ECONFLICT {
			// Stored but not sent: the scheduler retries.
			a.log.Warn("sending announcement", "id", ann.ID, "err", err)
		}
	}
	a.Kick() // schedule its start or expiry
	return ann, false, nil
}

// Withdraw ends an announcement now and removes it from every open widget
// and console. ECONFLICT if it already ended; ENOTFOUND if none.
func (a *Announcer) Withdraw(ctx context.Context, admin *models.Agent, id string) (*models.Announcement, error) {
	if admin == nil || admin.Role != models.RoleAdmin {
		return nil, models.Errorf(models.EFORBIDDEN, "only admins may withdraw announcements")
	}
	ann, err := a.store.EndAnnouncement(ctx, id, models.EndWithdrawn, a.now())
	if err != nil {
		return nil, err
	}
	if ann.SentAt != nil {
		a.retract(ctx, ann.ID, models.EndWithdrawn)
	}
	a.Kick()
	return ann, nil
}

// History lists announcements, newest first, with their counts. Counts
// of the last second may not be stored yet.
func (a *Announcer) History(ctx context.Context, limit int) ([]*models.Announcement, error) {
	return a.store.Announcements(ctx, limit)
}

// Seen records that the visitor's widget showed the announcement; each
// shopper counts once. EINVALID for a missing or overlong id, ENOTFOUND for
// an unknown announcement.
func (a *Announcer) Seen(ctx context.Context, visitorID, id string) error {
	if id == "" {
		return models.Errorf(models.EINVALID, "seen needs announcement_id")
	}
	if len(id) > 64 {
		return models.Errorf(models.EINVALID, "announcement_id is longer than 64 bytes")
	}
	_, err := a.store.MarkAnnouncementSeen(ctx, id, visitorID, a.now())
	return err
}

// send caches the active announcement and publishes it, encoded once, to
// every connected shopper it targets and every agent. The cache is filled
// first: a shopper connecting meanwhile may get it twice (widgets show an
// id once), never not at all.
func (a *Announcer) send(ctx context.Context, ann *models.Announcement) {
	frame, err := announcementFrame(ann)
	if err != nil {
		a.log.Error("encoding announcement", "err", err)
		return
	}
	match := ann.Targeting()
	a.mu.Lock()
	a.active[ann.ID] = &activeAnnouncement{a: ann, match: match, frame: frame}
	a.mu.Unlock()
	a.sent.Add(1)
	err = a.bus.Publish(ctx, models.Event{Type: models.EventAnnouncement, Frame: frame,
		To: models.Audience{AllVisitors: true, AllAgents: true, Match: match}})
	if err != nil {
		a.log.Warn("publishing announcement", "id", ann.ID, "err", err)
	}
}

// announcementFrame encodes the announcement frame of a.
func announcementFrame(a *models.Announcement) ([]byte, error) {
	view := wire.NewAnnouncementView(a)
	return json.Marshal(wire.ServerFrame{Type: wire.TypeAnnouncement, Announcement: &view})
}

// retract forgets an ended announcement and tells everyone to take it
// down. The withdrawal goes to all shoppers, targeted or not: widgets
// ignore ids they do not show.
func (a *Announcer) retract(ctx context.Context, id, reason string) {
	a.mu.Lock()
	delete(a.active, id)
	a.mu.Unlock()
	frame, _ := json.Marshal(wire.ServerFrame{Type: wire.TypeAnnouncementWithdrawn, AnnouncementID: id, Reason: reason})
	err := a.bus.Publish(ctx, models.Event{Type: models.EventAnnouncement, Frame: frame,
		To: models.Audience{AllVisitors: true, AllAgents: true}})
	if err != nil {
		a.log.Warn("publishing withdrawal", "id", id, "err", err)
	}
}

// SendActive passes send the frame of every active announcement that a
// shopper on pageURL speaking lang is targeted by (agents: pass
// agent=true for all of them), oldest first, and counts them as delivered
// when send reports true. It reads no store: the set is kept in memory.
func (a *Announcer) SendActive(pageURL, lang string, agent bool, send func(frame []byte) bool) {
	now := a.now()
	a.mu.RLock()
	defer a.mu.RUnlock()
	if len(a.active) == 0 {
		return
	}
	list := make([]*activeAnnouncement, 0, len(a.active))
	for _, x := range a.active {
		if x.a.Active(now) && (agent || x.match.Matches(pageURL, lang)) {
			list = append(list, x)
		}
	}
	sortActive(list)
	for _, x := range list {
		if send(x.frame) {
			a.count(x.a.ID, 1)
		}
	}
}

func sortActive(list []*activeAnnouncement) {
	for i := 1; i < len(list); i++ { // few: insertion sort
		for j := i; j > 0 && less(list[j], list[j-1]); j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
}

func less(x, y *activeAnnouncement) bool {
	if !x.a.CreatedAt.Equal(y.a.CreatedAt) {
		return x.a.CreatedAt.Before(y.a.CreatedAt)
	}
	return x.a.ID < y.a.ID
}

func (a *Announcer) count(id string, n int64) {
	a.countMu.Lock()
	a.counts[id] += n
	a.countMu.Unlock()
}

// Delivered is the hub's realtime.Options.OnDeliver for announcement
// events (others are ignored): it counts the connections an announcement
// was queued to on this instance, and notices announcements sent or
// withdrawn by other instances. It does not block.
func (a *Announcer) Delivered(e models.Event, conns int) {
	if e.Type != models.EventAnnouncement {
		return
	}
	var f wire.ServerFrame
	if err := json.Unmarshal(e.Frame, &f); err != nil {
		return
	}
	switch f.Type {
	case wire.TypeAnnouncement:
		if f.Announcement == nil {
			return
		}
		a.count(f.Announcement.ID, int64(conns))
		a.mu.RLock()
		_, known := a.active[f.Announcement.ID]
		a.mu.RUnlock()
		if !known {
			a.Kick() // sent elsewhere: load it for shoppers who connect here
		}
	case wire.TypeAnnouncementWithdrawn:
		a.mu.Lock()
		delete(a.active, f.AnnouncementID)
		a.mu.Unlock()
	}
}

// Flush stores the delivery counts gathered so far.
func (a *Announcer) Flush(ctx context.Context) {
	a.countMu.Lock()
	counts := a.counts
	a.counts = map[string]int64{}
	a.countMu.Unlock()
	for id, n := range counts {
		if err := a.store.AddAnnouncementDeliveries(ctx, id, n); err != nil {
			a.log.Warn("storing announcement deliveries", "id", id, "err", err)
			a.count(id, n) // try again next time
		}
	}
}

// Step does one pass of the schedule at the clock's time: it sends the
// announcements whose start has come, ends (and withdraws) those whose
// expiry has passed, reloads the set of active ones, and stores delivery
// counts. It returns when the next start or expiry is due (zero if none).
func (a *Announcer) Step(ctx context.Context) (time.Time, error) {
	defer a.Flush(ctx)
	now := a.now()
	live, err := a.store.LiveAnnouncements(ctx)
	if err != nil {
		return time.Time{}, err
	}
	var next time.Time
	due := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	active := map[string]*models.Announcement{}
	for _, ann := range live {
		expired := ann.ExpiresAt != nil && !now.Before(*ann.ExpiresAt)
		switch {
		case expired:
			ended, err := a.store.EndAnnouncement(ctx, ann.ID, models.EndExpired, now)
			if err == nil && ended.SentAt != nil {
				a.retract(ctx, ann.ID, models.EndExpired)
			} else if err != nil && models.ErrorCode(err) != models.ECONFLICT {
				a.log.Warn("expiring announcement", "id", ann.ID, "err", err)
			}
			continue
		case ann.SentAt == nil && ann.StartsAt != nil && now.Before(*ann.StartsAt):
			due(*ann.StartsAt)
			continue
		case ann.SentAt == nil:
			sent, err := a.store.MarkAnnouncementSent(ctx, ann.ID, now)
			if err != nil {
				if models.ErrorCode(err) != models.ECONFLICT {
					a.log.Warn("sending scheduled announcement", "id", ann.ID, "err", err)
				}
				continue // another instance sent it; the next pass loads it
			}
			a.send(ctx, sent)
			ann = sent
		}
		active[ann.ID] = ann
		if ann.ExpiresAt != nil {
			due(*ann.ExpiresAt)
		}
	}
	// Reload the cache: drop what ended elsewhere, add what started
	// elsewhere (encoded here once), keep the frames already encoded.
	a.mu.Lock()
	for id := range a.active {
		if active[id] == nil {
			delete(a.active, id)
		}
	}
	for id, ann := range active {
		if a.active[id] == nil {
			frame, _ := announcementFrame(ann)
			a.active[id] = &activeAnnouncement{a: ann, match: ann.Targeting(), frame: frame}
		}
	}
	a.mu.Unlock()
	return next, nil
}

// Run runs the schedule until ctx is done: a pass at start, on every Kick,
// when the next start or expiry is due, and at least every Recheck (every
// second while delivery counts wait to be stored). It returns nil when ctx
// is done, after storing the last counts.
func (a *Announcer) Run(ctx context.Context) error {
	defer a.Flush(context.WithoutCancel(ctx))
	for {
		next, err := a.Step(ctx)
		if err != nil && ctx.Err() == nil {
			a.log.Warn("announcement schedule", "err", err)
		}
		wait := a.opts.Recheck
		a.countMu.Lock()
		if len(a.counts) > 0 {
			wait = min(wait, time.Second)
		}
		a.countMu.Unlock()
		if !next.IsZero() {
			wait = min(wait, next.Sub(a.now()))
		}
		wait = max(wait, time.Millisecond)
		t := a.clock.AfterFunc(wait, a.Kick)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-a.kick:
			t.Stop()
		}
	}
}
