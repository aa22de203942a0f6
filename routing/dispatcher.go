package routing

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/kefu-chat/kefu/models"
)

// Status is an agent's presence as the dispatcher sees it.
type Status string

const (
	// StatusOnline agents are connected and take new conversations.
	StatusOnline Status = "online"
	// StatusAway agents are connected and keep their conversations but get
	// no new ones.
	StatusAway Status = "away"
	// StatusOffline agents are not connected and their grace period, if
	// any, has run out. An agent who just disconnected keeps their last
	// status, with zero connections, until then.
	StatusOffline Status = "offline"
)

// Presence is an agent's presence on this Dispatcher.
type Presence struct {
	Status      Status
	Connections int
}

// ReasonAgentOffline is the reason given to Notifier.Requeued when an
// agent's grace period ran out.
const ReasonAgentOffline = "agent_offline"

// Notifier hears of the dispatcher's decisions after the store committed
// them, to tell the people concerned (the chat service builds and publishes
// the frames). Its methods are called from within a pass, one at a time,
// and must not call Step or Close (Kick is fine); they should not block for
// long, since the pass waits for them.
type Notifier interface {
	// Assigned: c (as stored after the assignment) now belongs to agent.
	Assigned(ctx context.Context, c *models.Conversation, agent *models.Agent)
	// Requeued: c (as stored after the requeue) went back to the queue from
	// fromAgentID, for reason (e.g. ReasonAgentOffline).
	Requeued(ctx context.Context, c *models.Conversation, fromAgentID string, reason string)
	// QueueChanged: the queue, in serve order, differs from the one last
	// reported (by this pass's assignments, a requeue, or a change someone
	// else made that the pass found).
	QueueChanged(ctx context.Context, queue []*models.Conversation)
}

type nopNotifier struct{}

func (nopNotifier) Assigned(context.Context, *models.Conversation, *models.Agent)  {}
func (nopNotifier) Requeued(context.Context, *models.Conversation, string, string) {}
func (nopNotifier) QueueChanged(context.Context, []*models.Conversation)           {}

// Store is the part of models.Store the dispatcher uses; its contracts are
// models.Store's.
type Store interface {
	Queue(ctx context.Context) ([]*models.Conversation, error)
	Agents(ctx context.Context) ([]*models.Agent, error)
	Agent(ctx context.Context, id string) (*models.Agent, error)
	AssignConversation(ctx context.Context, a models.Assignment) (*models.Conversation, error)
	RequeueConversation(ctx context.Context, conversationID, fromAgentID string, now time.Time) (*models.Conversation, error)
	Conversations(ctx context.Context, f models.ConversationFilter) ([]*models.Conversation, error)
	Departments(ctx context.Context) ([]*models.Department, error)
	Conversation(ctx context.Context, id string) (*models.Conversation, error)
	Messages(ctx context.Context, conversationID string, afterSeq int64, limit int) ([]*models.Message, error)
	AllBusinessHours(ctx context.Context) ([]*models.BusinessHours, error)
}

var _ Store = models.Store(nil)

// Options configure a Dispatcher. Zero fields get the documented defaults.
type Options struct {
	// Clock defaults to SystemClock.
	Clock Clock
	// DefaultMaxChats is the cap of agents without their own; default 5.
	DefaultMaxChats int
	// GracePeriod is how long a disconnected agent keeps their
	// conversations; default 60s.
	GracePeriod time.Duration
	// Interval is how often Run makes a pass even when not kicked, as a
	// safety net for changes made elsewhere (another instance); default 5s.
	Interval time.Duration
	// Strategy is used for conversations without a department; it defaults
	// to LeastBusy. Departments name their own (least-busy, round-robin or
	// manual).
	Strategy Strategy
	// UnansweredAfter, when positive, requeues an assigned conversation
	// whose agent has not written in it that long after the assignment, and
	// offers it to another agent first; 0 turns the hand-off off.
	UnansweredAfter time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Dispatcher assigns queued conversations to agents. Create it with New.
type Dispatcher struct {
	store      Store
	notify     Notifier
	clock      Clock
	def        int
	grace      time.Duration
	interval   time.Duration
	strategy   Strategy
	log        *slog.Logger
	unanswered time.Duration

	kick chan struct{} // capacity 1: kicks coalesce

	passMu     sync.Mutex // one pass at a time
	lastQueue  []string   // IDs of the queue last reported; guarded by passMu
	queueKnown bool       // whether lastQueue is what the Notifier last heard
	passSeq    int        // counts assignments, for round-robin ties within a pass; passMu
	// declined maps a conversation to the agent it was taken from for not
	// answering, who gets it again only if nobody else can; passMu.
	declined  map[string]string
	lastCheck time.Time // the last unanswered check; passMu

	mu        sync.Mutex // guards the fields below; never held during store calls
	agents    map[string]*presence
	expired   map[string]struct{} // agents whose grace ran out, for the next pass
	closed    bool
	fallback  Timer     // kicks when the next department fallback is due
	fallAt    time.Time // when fallback fires
	cancelRun context.CancelFunc
	runDone   chan struct{}

	waits waitCache // handling averages for EstimateWaits (wait.go)

	hoursMu  sync.Mutex              // guards the cached business hours (hours.go)
	hours    []*models.BusinessHours // every stored schedule, as last read
	hoursAt  time.Time               // when they were read; zero: read again
	hoursGen uint64                  // raised by HoursChanged
}

type presence struct {
	status Status
	conns  int
	timer  Timer  // the running grace timer, if any
	gen    uint64 // raised whenever a grace timer starts or is cancelled
}

// New returns a Dispatcher. It does nothing until Run or Step is called.
// A nil Notifier tells no one.
func New(store Store, n Notifier, o Options) *Dispatcher {
	if n == nil {
		n = nopNotifier{}
	}
	d := &Dispatcher{
		store: store, notify: n,
		clock: o.Clock, def: o.DefaultMaxChats, grace: o.GracePeriod,
		interval: o.Interval, strategy: o.Strategy, log: o.Logger, unanswered: o.UnansweredAfter,
		declined: make(map[string]string),
		kick:     make(chan struct{}, 1),
		agents:   make(map[string]*presence),
		expired:  make(map[string]struct{}),
	}
	if d.clock == nil {
		d.clock = SystemClock{}
	}
	if d.def <= 0 {
		d.def = 5
	}
	if d.grace <= 0 {
		d.grace = 60 * time.Second
	}
	if d.interval <= 0 {
		d.interval = 5 * time.Second
	}
	if d.unanswered > 0 && d.interval > d.unanswered/2 {
		// Unanswered conversations are found by passes: make them often
		// enough.
		d.interval = max(d.unanswered/2, 10*time.Millisecond)
	}
	if d.strategy == nil {
		d.strategy = LeastBusy{}
	}
	if d.log == nil {
		d.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return d
}

// Kick asks Run for a pass soon: call it whenever something that matters
// to routing changed (a new conversation, a resolve, a status change). It
// never blocks; kicks made before the pass starts coalesce into one.
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// AgentConnected counts a new connection of the agent. The first one cancels
// a running grace period and makes the agent online.
func (d *Dispatcher) AgentConnected(agentID string) Presence {
	d.mu.Lock()
	p := d.agents[agentID]
	if p == nil {
		p = &presence{status: StatusOffline}
		d.agents[agentID] = p
	}
	p.conns++
	if p.conns == 1 {
		d.cancelGraceLocked(agentID, p)
		p.status = StatusOnline
	}
	out := p.view()
	d.mu.Unlock()
	d.Kick()
	return out
}

// AgentDisconnected counts a connection of the agent gone. When it was the
// last, the agent gets no new conversations and a grace period starts; if
// they have not reconnected when it ends, they become offline and their
// conversations go back to the head of the queue. A call for an agent with
// no connections does nothing.
func (d *Dispatcher) AgentDisconnected(agentID string) Presence {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.agents[agentID]
	if p == nil || p.conns == 0 {
		return Presence{Status: StatusOffline}
	}
	p.conns--
	if p.conns == 0 && !d.closed {
		d.startGraceLocked(agentID, p)
	}
	return p.view()
}

// SetStatus sets a connected agent's status to online or away. Away agents
// keep their conversations and get no new ones. EINVALID for another
// status; ECONFLICT if the agent is not connected.
func (d *Dispatcher) SetStatus(agentID string, s Status) error {
	if s != StatusOnline && s != StatusAway {
		return models.Errorf(models.EINVALID, "status must be online or away")
	}
	d.mu.Lock()
	p := d.agents[agentID]
	if p == nil || p.conns == 0 {
		d.mu.Unlock()
		return models.Errorf(models.ECONFLICT, "agent is not connected")
	}
	p.status = s
	d.mu.Unlock()
	if s == StatusOnline {
		d.Kick()
	}
	return nil
}

// Presence returns the agent's presence; unknown agents are offline.
func (d *Dispatcher) Presence(agentID string) Presence {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p := d.agents[agentID]; p != nil {
		return p.view()
	}
	return Presence{Status: StatusOffline}
}

// Presences returns the presence of every agent the dispatcher has seen.
func (d *Dispatcher) Presences() map[string]Presence {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]Presence, len(d.agents))
	for id, p := range d.agents {
		out[id] = p.view()
	}
	return out
}

func (p *presence) view() Presence { return Presence{Status: p.status, Connections: p.conns} }

func (d *Dispatcher) startGraceLocked(agentID string, p *presence) {
	if p.timer != nil {
		p.timer.Stop()
	}
	p.gen++
	gen := p.gen
	p.timer = d.clock.AfterFunc(d.grace, func() { d.graceExpired(agentID, gen) })
}

func (d *Dispatcher) cancelGraceLocked(agentID string, p *presence) {
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	// A timer that already fired, or is firing now, sees a new generation
	// and does nothing; an expiry not yet handled by a pass is dropped.
	p.gen++
	delete(d.expired, agentID)
}

// graceExpired runs on the clock's goroutine (or inside FakeClock.Advance).
// It does no store work, which would race with passes: it leaves the agent
// for the next pass and kicks.
func (d *Dispatcher) graceExpired(agentID string, gen uint64) {
	d.mu.Lock()
	p := d.agents[agentID]
	if d.closed || p == nil || p.gen != gen || p.conns > 0 {
		d.mu.Unlock()
		return
	}
	p.status = StatusOffline
	p.timer = nil
	d.expired[agentID] = struct{}{}
	d.mu.Unlock()
	d.Kick()
}

// Recover starts a grace period for every agent who holds conversations
// (OpenChats > 0) but is not connected to this dispatcher, as after a
// restart: they get the same time to come back as an agent whose connection
// just dropped. Run calls it first; callers that drive Step themselves call
// it once before.
func (d *Dispatcher) Recover(ctx context.Context) error {
	agents, err := d.store.Agents(ctx)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	for _, a := range agents {
		if a.OpenChats <= 0 {
			continue
		}
		p := d.agents[a.ID]
		if p == nil {
			p = &presence{status: StatusOffline}
			d.agents[a.ID] = p
		}
		if _, pending := d.expired[a.ID]; p.conns > 0 || p.timer != nil || pending {
			continue
		}
		d.startGraceLocked(a.ID, p)
	}
	return nil
}

// Run makes passes whenever kicked, and every Interval as a safety net,
// until ctx ends (it returns ctx's error) or Close is called (it returns
// nil). Pass errors are logged and the pass retried at the next kick or
// interval. Only one Run may be active per Dispatcher (ECONFLICT).
func (d *Dispatcher) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	if d.runDone != nil {
		d.mu.Unlock()
		return models.Errorf(models.ECONFLICT, "dispatcher is already running")
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	d.cancelRun, d.runDone = cancel, done
	d.mu.Unlock()
	defer close(done)
	defer cancel()

	if err := d.Recover(ctx); err != nil && ctx.Err() == nil {
		d.log.Warn("routing: recover", "err", err)
	}

	var tick func()
	var tickMu sync.Mutex
	var ticker Timer
	tick = func() {
		d.Kick()
		tickMu.Lock()
		defer tickMu.Unlock()
		if ctx.Err() == nil {
			ticker = d.clock.AfterFunc(d.interval, tick)
		}
	}
	tickMu.Lock()
	ticker = d.clock.AfterFunc(d.interval, tick)
	tickMu.Unlock()
	defer func() {
		tickMu.Lock()
		ticker.Stop()
		tickMu.Unlock()
	}()

	d.Kick()
	for {
		select {
		case <-ctx.Done():
			return parent.Err()
		case <-d.kick:
			if err := d.Step(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("routing: pass failed", "err", err)
			}
		}
	}
}

// Close stops the grace timers and Run, and waits for Run to return. It is
// safe to call more than once; it must not be called from a Notifier.
// Step returns EUNAVAILABLE after Close.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	d.closed = true
	for _, p := range d.agents {
		if p.timer != nil {
			p.timer.Stop()
			p.timer = nil
		}
	}
	if d.fallback != nil {
		d.fallback.Stop()
		d.fallback = nil
	}
	cancel, done := d.cancelRun, d.runDone
	d.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return nil
}

// Step makes one pass synchronously: it requeues the conversations of
// agents whose grace period ran out, then assigns what it can, then tells
// the Notifier if the queue changed. Passes are serialized.
func (d *Dispatcher) Step(ctx context.Context) error {
	d.passMu.Lock()
	defer d.passMu.Unlock()
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return models.Errorf(models.EUNAVAILABLE, "dispatcher is closed")
	}
	if err := d.requeueExpired(ctx); err != nil {
		return err
	}
	if err := d.requeueUnanswered(ctx); err != nil {
		return err
	}
	queue, err := d.store.Queue(ctx)
	if err != nil {
		return err
	}
	changed := false
	if len(queue) > 0 {
		changed, err = d.assign(ctx, queue)
	}
	final := queue
	if changed {
		q, qerr := d.store.Queue(ctx)
		if qerr != nil {
			// Report nothing rather than a stale queue; the next pass will.
			d.queueKnown = false
			if err == nil {
				err = qerr
			}
			return err
		}
		final = q
	}
	d.reportQueue(ctx, final)
	return err
}

// reportQueue tells the Notifier the queue if it differs from the one last
// reported (the first pass always reports).
func (d *Dispatcher) reportQueue(ctx context.Context, q []*models.Conversation) {
	if d.queueKnown && slices.EqualFunc(q, d.lastQueue, func(c *models.Conversation, id string) bool { return c.ID == id }) {
		return
	}
	ids := make([]string, len(q))
	for i, c := range q {
		ids[i] = c.ID
	}
	d.lastQueue, d.queueKnown = ids, true
	d.notify.QueueChanged(ctx, q)
}

// requeueExpired returns the conversations of agents whose grace period ran
// out to the queue.
func (d *Dispatcher) requeueExpired(ctx context.Context) error {
	d.mu.Lock()
	ids := make([]string, 0, len(d.expired))
	for id := range d.expired {
		ids = append(ids, id)
	}
	clear(d.expired)
	d.mu.Unlock()
	sort.Strings(ids)
	for i, id := range ids {
		if err := d.requeueAgent(ctx, id); err != nil {
			// Try again at the next pass, unless they came back.
			d.mu.Lock()
			for _, r := range ids[i:] {
				if p := d.agents[r]; p != nil && p.conns == 0 && !d.closed {
					d.expired[r] = struct{}{}
				}
			}
			d.mu.Unlock()
			return err
		}
	}
	return nil
}

func (d *Dispatcher) absent(agentID string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.agents[agentID]
	return p == nil || p.conns == 0
}

func (d *Dispatcher) requeueAgent(ctx context.Context, agentID string) error {
	const page = 500
	for {
		convs, err := d.store.Conversations(ctx, models.ConversationFilter{
			AgentID: agentID, Statuses: []models.Status{models.StatusAssigned}, Limit: page,
		})
		if err != nil {
			return err
		}
		moved := 0
		for _, c := range convs {
			// Someone who comes back mid-way keeps what is left.
			if !d.absent(agentID) {
				return nil
			}
			rc, err := d.store.RequeueConversation(ctx, c.ID, agentID, d.clock.Now())
			switch models.ErrorCode(err) {
			case "":
				moved++
				d.log.Info("routing: requeued", "conversation", c.ID, "from", agentID, "reason", ReasonAgentOffline)
				d.notify.Requeued(ctx, rc, agentID, ReasonAgentOffline)
			case models.ECONFLICT, models.ENOTFOUND:
				// Resolved or moved since we listed it.
			default:
				return err
			}
		}
		if len(convs) < page || moved == 0 {
			return nil
		}
	}
}

// skip is an agent left out of a pass, and why.
type skip struct {
	ID  string `json:"id"`
	Why string `json:"why"`
}

type reasonCand struct {
	ID   string `json:"id"`
	Load int    `json:"load"`
	Cap  int    `json:"cap"`
}

// reason is what an assignment's Reason says, as JSON. Lists are cut at
// reasonMax entries (totals say how many there were) to keep records small
// with large teams.
type reason struct {
	Strategy        string       `json:"strategy"`
	Agent           string       `json:"agent"`
	Candidates      []reasonCand `json:"candidates"`
	CandidatesTotal int          `json:"candidates_total"`
	Skipped         []skip       `json:"skipped,omitempty"`
	SkippedTotal    int          `json:"skipped_total,omitempty"`
	Refused         []skip       `json:"refused,omitempty"`
	// Department is the conversation's department; FellBack says its
	// fallback wait was over, so agents outside it were candidates too.
	Department string `json:"department,omitempty"`
	FellBack   bool   `json:"fell_back,omitempty"`
	// NotMembers counts online agents with room who were left out because
	// they are not in the department.
	NotMembers int `json:"not_members,omitempty"`
}

const reasonMax = 8

func (d *Dispatcher) reason(strategy Strategy, dept *models.Department, fellBack bool, chosen Candidate, cands []Candidate, skipped, refused []skip) string {
	r := reason{
		Strategy:        strategy.Name(),
		FellBack:        fellBack,
		Agent:           chosen.Agent.ID,
		CandidatesTotal: len(cands),
		SkippedTotal:    len(skipped),
		Refused:         refused,
	}
	r.Candidates = append(r.Candidates, reasonCand{chosen.Agent.ID, chosen.Load, chosen.Capacity})
	for _, c := range cands {
		if len(r.Candidates) >= reasonMax {
			break
		}
		if c.Agent.ID != chosen.Agent.ID {
			r.Candidates = append(r.Candidates, reasonCand{c.Agent.ID, c.Load, c.Capacity})
		}
	}
	r.Skipped = skipped[:min(len(skipped), reasonMax)]
	if dept != nil {
		r.Department = dept.ID
	}
	b, err := json.Marshal(r)
	if err != nil {
		return `{"strategy":"` + strategy.Name() + `"}`
	}
	return string(b)
}

// candidates splits agents into those who may take a conversation now and
// those who may not, with why. pres is each agent's presence here.
func candidates(agents []*models.Agent, pres map[string]Presence, def int) (pool []Candidate, skipped []skip) {
	for _, a := range agents {
		p := pres[a.ID]
		c := a.Capacity(def)
		switch {
		case a.Disabled:
			skipped = append(skipped, skip{a.ID, "disabled"})
		case p.Connections <= 0:
			skipped = append(skipped, skip{a.ID, "not_connected"})
		case p.Status != StatusOnline:
			skipped = append(skipped, skip{a.ID, string(p.Status)})
		case a.OpenChats >= c:
			skipped = append(skipped, skip{a.ID, "full"})
		default:
			pool = append(pool, Candidate{Agent: a, Load: a.OpenChats, Capacity: c})
		}
	}
	return pool, skipped
}

// eligibleNow reports whether the agent is still connected and online;
// presence may change during a pass.
func (d *Dispatcher) eligibleNow(agentID string) (bool, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.agents[agentID]
	switch {
	case p == nil || p.conns <= 0:
		return false, "not_connected"
	case p.status != StatusOnline:
		return false, string(p.status)
	}
	return true, ""
}

// assign hands queued conversations, in queue order, to candidates chosen
// by the strategy of each conversation's department, until the queue or the
// candidates' capacity runs out. A conversation of a department is offered
// only to its members until its fallback wait is over; a manual
// department's conversations are never assigned here. changed reports
// whether the queue changed (an assignment, or a conversation someone else
// took).
func (d *Dispatcher) assign(ctx context.Context, queue []*models.Conversation) (changed bool, err error) {
	agents, err := d.store.Agents(ctx)
	if err != nil {
		return false, err
	}
	depts, err := d.departments(ctx)
	if err != nil {
		return false, err
	}
	d.mu.Lock()
	pres := make(map[string]Presence, len(d.agents))
	for id, p := range d.agents {
		pres[id] = p.view()
	}
	d.mu.Unlock()
	pool, skipped := candidates(agents, pres, d.def)
	members := memberSets(depts)
	now := d.clock.Now()
	var nextFallback time.Time

	drop := func(id, why string) {
		if i := slices.IndexFunc(pool, func(c Candidate) bool { return c.Agent.ID == id }); i >= 0 {
			pool = slices.Delete(pool, i, i+1)
			skipped = append(skipped, skip{id, why})
		}
	}

	for _, c := range queue {
		if len(pool) == 0 {
			break
		}
		if err := ctx.Err(); err != nil {
			return changed, err
		}
		dept := deptOf(c, depts)
		strategy := d.strategyFor(dept)
		fellBack := dept != nil && dept.FallenBack(c.QueuedAt, now)
		if strategy == nil {
			continue // manual: agents take it themselves
		}
		var refused []skip
	conversation:
		for {
			var set map[string]bool
			if dept != nil {
				set = members[dept.ID]
			}
			cands, notMembers := eligibleFor(pool, dept, set, fellBack, refused)
			if declined, ok := d.declined[c.ID]; ok && len(cands) > 1 {
				// It was taken from this agent for not answering: anyone
				// else first.
				cands = slices.DeleteFunc(slices.Clone(cands), func(x Candidate) bool { return x.Agent.ID == declined })
			}
			if len(cands) == 0 {
				break
			}
			i := strategy.Pick(c, cands)
			if i < 0 || i >= len(cands) {
				break
			}
			chosen := cands[i]
			id := chosen.Agent.ID
			if ok, why := d.eligibleNow(id); !ok {
				drop(id, why)
				continue
			}
			now := d.clock.Now()
			why := d.reason(strategy, dept, fellBack, chosen, cands, skipped, refused)
			if notMembers > 0 {
				why = addNotMembers(why, notMembers)
			}
			ac, err := d.store.AssignConversation(ctx, models.Assignment{
				ConversationID: c.ID,
				AgentID:        id,
				Capacity:       chosen.Capacity,
				Strategy:       strategy.Name(),
				Reason:         why,
				Now:            now,
			})
			switch code := models.ErrorCode(err); code {
			case "":
				changed = true
				delete(d.declined, c.ID)
				d.passSeq++
				j := slices.IndexFunc(pool, func(c Candidate) bool { return c.Agent.ID == id })
				p := &pool[j]
				p.Load++
				p.Agent.OpenChats = p.Load
				p.Agent.LastAssignedAt = &now
				p.PassSeq = d.passSeq
				agent := *p.Agent
				if p.Load >= p.Capacity {
					drop(id, "full")
				}
				d.log.Debug("routing: assigned", "conversation", c.ID, "agent", id)
				d.notify.Assigned(ctx, ac, &agent)
				break conversation
			case models.ECONFLICT:
				// Taken (or resolved) by someone else since we read the queue.
				changed = true
				break conversation
			case models.ECAPACITY, models.EFORBIDDEN, models.ENOTFOUND:
				// Our view of the agent is stale: refresh it, try the next.
				refused = append(refused, skip{id, string(code)})
				fresh, aerr := d.store.Agent(ctx, id)
				switch models.ErrorCode(aerr) {
				case "":
				case models.ENOTFOUND:
					drop(id, "deleted")
					continue
				default:
					return changed, aerr
				}
				if code == models.ENOTFOUND {
					// The agent exists, so the conversation does not.
					changed = true
					break conversation
				}
				j := slices.IndexFunc(pool, func(c Candidate) bool { return c.Agent.ID == id })
				pool[j] = Candidate{Agent: fresh, Load: fresh.OpenChats, Capacity: fresh.Capacity(d.def), PassSeq: pool[j].PassSeq}
				switch {
				case fresh.Disabled:
					drop(id, "disabled")
				case fresh.OpenChats >= pool[j].Capacity:
					drop(id, "full")
				}
			default:
				return changed, err
			}
		}
	}
	// Conversations beyond where the pool ran out may also wait for a
	// fallback: find the earliest, so that a pass runs when it is due.
	for _, c := range queue {
		if dept := deptOf(c, depts); dept != nil && dept.FallbackAfter > 0 && !dept.FallenBack(c.QueuedAt, now) {
			if due := c.QueuedAt.Add(dept.FallbackAfter); nextFallback.IsZero() || due.Before(nextFallback) {
				nextFallback = due
			}
		}
	}
	d.scheduleFallback(nextFallback)
	return changed, nil
}
