package routing

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/kefu-chat/kefu/models"
)

// RoundRobin gives conversations to candidates in turn: the one assigned
// least recently (never assigned first, then the earliest LastAssignedAt,
// then the earliest assignment of this pass, then the lowest ID), whatever
// their load, within their caps. The turn is derived from LastAssignedAt,
// which the store keeps, so it holds across restarts and across instances
// sharing a database; it needs no state of its own.
type RoundRobin struct{}

var _ Strategy = RoundRobin{}

// Name returns "round-robin".
func (RoundRobin) Name() string { return models.StrategyRoundRobin }

// Pick returns the candidate whose turn it is, or -1 if cands is empty.
func (RoundRobin) Pick(_ *models.Conversation, cands []Candidate) int {
	best := -1
	for i := range cands {
		if best < 0 || nextInTurn(&cands[i], &cands[best]) {
			best = i
		}
	}
	return best
}

func nextInTurn(a, b *Candidate) bool {
	at, bt := a.Agent.LastAssignedAt, b.Agent.LastAssignedAt
	switch {
	case at == nil && bt != nil:
		return true
	case at != nil && bt == nil:
		return false
	case at != nil && bt != nil && !at.Equal(*bt):
		return at.Before(*bt)
	case a.PassSeq != b.PassSeq:
		return a.PassSeq < b.PassSeq
	}
	return a.Agent.ID < b.Agent.ID
}

// StrategyByName returns the strategy a department names; nil for manual
// (nothing is assigned automatically) and for unknown names.
func StrategyByName(name string) Strategy {
	switch name {
	case models.StrategyLeastBusy:
		return LeastBusy{}
	case models.StrategyRoundRobin:
		return RoundRobin{}
	}
	return nil
}

// strategyFor returns the strategy for a conversation of dept (nil: no
// department), or nil when nothing may be assigned automatically.
func (d *Dispatcher) strategyFor(dept *models.Department) Strategy {
	if dept == nil {
		return d.strategy
	}
	return StrategyByName(dept.Strategy)
}

func (d *Dispatcher) departments(ctx context.Context) (map[string]*models.Department, error) {
	list, err := d.store.Departments(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*models.Department, len(list))
	for _, x := range list {
		out[x.ID] = x
	}
	return out, nil
}

// deptOf returns c's department, or nil when it has none or it no longer
// exists (then any agent may serve it).
func deptOf(c *models.Conversation, depts map[string]*models.Department) *models.Department {
	if c.DepartmentID == nil {
		return nil
	}
	return depts[*c.DepartmentID]
}

// Eligible reports whether an agent may be offered a conversation of dept
// (nil: none): members always; everyone once the fallback wait is over.
func Eligible(agentID string, dept *models.Department, fellBack bool) bool {
	return dept == nil || fellBack || dept.HasMember(agentID)
}

// memberSets indexes each department's members, once per pass.
func memberSets(depts map[string]*models.Department) map[string]map[string]bool {
	out := make(map[string]map[string]bool, len(depts))
	for id, d := range depts {
		set := make(map[string]bool, len(d.Members))
		for _, m := range d.Members {
			set[m] = true
		}
		out[id] = set
	}
	return out
}

// eligibleFor returns the candidates of pool that may get a conversation of
// dept (members: its member set), minus those refused, and how many were
// left out as non-members. With nothing to leave out it returns pool
// itself, which the caller must not modify.
func eligibleFor(pool []Candidate, dept *models.Department, members map[string]bool, fellBack bool, refused []skip) ([]Candidate, int) {
	open := dept == nil || fellBack
	if open && len(refused) == 0 {
		return pool, 0
	}
	out := make([]Candidate, 0, len(pool))
	notMembers := 0
	for _, c := range pool {
		if slices.ContainsFunc(refused, func(s skip) bool { return s.ID == c.Agent.ID }) {
			continue
		}
		if !open && !members[c.Agent.ID] {
			notMembers++
			continue
		}
		out = append(out, c)
	}
	return out, notMembers
}

func addNotMembers(reasonJSON string, n int) string {
	var r reason
	if json.Unmarshal([]byte(reasonJSON), &r) != nil {
		return reasonJSON
	}
	r.NotMembers = n
	b, err := json.Marshal(r)
	if err != nil {
		return reasonJSON
	}
	return string(b)
}

// scheduleFallback makes sure a pass runs when the next department
// fallback is due (zero: none pending).
func (d *Dispatcher) scheduleFallback(at time.Time) {
	if at.IsZero() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || (d.fallback != nil && !d.fallAt.After(at)) {
		return
	}
	if d.fallback != nil {
		d.fallback.Stop()
	}
	d.fallAt = at
	d.fallback = d.clock.AfterFunc(at.Sub(d.clock.Now()), func() {
		d.mu.Lock()
		d.fallback = nil
		d.mu.Unlock()
		d.Kick()
	})
}

// Take gives a queued conversation to an agent who asked for it (the
// manual strategy, or an agent picking from the queue): the agent must be
// connected here and online, enabled and below their cap, and a member of
// the conversation's department unless its fallback wait is over. It is
// the same conditional store call as every assignment, so a take racing a
// pass or another take has one winner; ECONFLICT for the others. EFORBIDDEN
// if the agent may not serve the conversation; ECAPACITY if they are full.
func (d *Dispatcher) Take(ctx context.Context, conversationID, agentID string) (*models.Conversation, error) {
	d.passMu.Lock()
	defer d.passMu.Unlock()
	if ok, why := d.eligibleNow(agentID); !ok {
		return nil, models.Errorf(models.ECONFLICT, "you are %s: go online to take conversations", why)
	}
	c, err := d.store.Conversation(ctx, conversationID)
	if err != nil {
		return nil, err
	}
	if c.Status != models.StatusQueued {
		return nil, models.Errorf(models.ECONFLICT, "the conversation is no longer queued")
	}
	a, err := d.store.Agent(ctx, agentID)
	if err != nil {
		return nil, err
	}
	var dept *models.Department
	if c.DepartmentID != nil {
		depts, err := d.departments(ctx)
		if err != nil {
			return nil, err
		}
		dept = depts[*c.DepartmentID]
	}
	now := d.clock.Now()
	fellBack := dept != nil && dept.FallenBack(c.QueuedAt, now)
	if !Eligible(agentID, dept, fellBack) {
		return nil, models.Errorf(models.EFORBIDDEN, "the conversation is for the %s department", dept.Name)
	}
	capacity := a.Capacity(d.def)
	r := reason{Strategy: "take", Agent: agentID, FellBack: fellBack, CandidatesTotal: 1,
		Candidates: []reasonCand{{agentID, a.OpenChats, capacity}}}
	if dept != nil {
		r.Department = dept.ID
	}
	why, _ := json.Marshal(r)
	ac, err := d.store.AssignConversation(ctx, models.Assignment{ConversationID: c.ID, AgentID: agentID,
		Capacity: capacity, Strategy: "take", Reason: string(why), Now: now})
	if err != nil {
		return nil, err
	}
	delete(d.declined, c.ID)
	a.OpenChats++
	a.LastAssignedAt = &now
	d.notify.Assigned(ctx, ac, a)
	d.Kick() // the queue changed: report it
	return ac, nil
}

// ReasonUnanswered is the reason given to Notifier.Requeued when an agent
// did not answer in time.
const ReasonUnanswered = "unanswered"

// requeueUnanswered returns to the queue the assigned conversations of
// agents connected here who have not written in them within
// UnansweredAfter of the assignment, and remembers whom they were taken
// from. It looks at most every tenth of UnansweredAfter.
func (d *Dispatcher) requeueUnanswered(ctx context.Context) error {
	if d.unanswered <= 0 {
		return nil
	}
	now := d.clock.Now()
	if !d.lastCheck.IsZero() && now.Sub(d.lastCheck) < d.unanswered/10 {
		return nil
	}
	d.lastCheck = now
	d.mu.Lock()
	ids := make([]string, 0, len(d.agents))
	for id, p := range d.agents {
		if p.conns > 0 {
			ids = append(ids, id)
		}
	}
	d.mu.Unlock()
	slices.Sort(ids)
	for _, agentID := range ids {
		convs, err := d.store.Conversations(ctx, models.ConversationFilter{AgentID: agentID,
			Statuses: []models.Status{models.StatusAssigned}, Limit: 500})
		if err != nil {
			return err
		}
		for _, c := range convs {
			if c.AssignedAt == nil || now.Sub(*c.AssignedAt) < d.unanswered {
				continue
			}
			answered, err := d.answeredSince(ctx, c, agentID)
			if err != nil {
				return err
			}
			if answered {
				continue
			}
			rc, err := d.store.RequeueConversation(ctx, c.ID, agentID, now)
			switch models.ErrorCode(err) {
			case "":
				d.declined[c.ID] = agentID
				d.log.Info("routing: requeued", "conversation", c.ID, "from", agentID, "reason", ReasonUnanswered)
				d.notify.Requeued(ctx, rc, agentID, ReasonUnanswered)
			case models.ECONFLICT, models.ENOTFOUND:
			default:
				return err
			}
		}
	}
	// Forget declines of conversations no longer queued (a bounded map).
	if len(d.declined) > 10000 {
		clear(d.declined)
	}
	return nil
}

// answeredSince reports whether the agent wrote in c since it was assigned
// to them. It reads back through the last page of messages.
func (d *Dispatcher) answeredSince(ctx context.Context, c *models.Conversation, agentID string) (bool, error) {
	after := c.LastSeq - 100
	if after < 0 {
		after = 0
	}
	msgs, err := d.store.Messages(ctx, c.ID, after, 100)
	if err != nil {
		return false, err
	}
	for _, m := range msgs {
		if m.SenderKind == models.SenderAgent && m.SenderID == agentID && !m.CreatedAt.Before(*c.AssignedAt) {
			return true, nil
		}
	}
	return false, nil
}

// Available reports whether an agent who could serve a conversation of dept
// (nil: any agent) is connected here and online now; it ignores caps (a
// full agent will be free again). The chat service tells a shopper when it
// is false.
func (d *Dispatcher) Available(dept *models.Department) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, p := range d.agents {
		if p.conns > 0 && p.status == StatusOnline && (dept == nil || dept.HasMember(id)) {
			return true
		}
	}
	return false
}
