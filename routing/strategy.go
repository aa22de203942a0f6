package routing

import (
	"github.com/kefu-chat/kefu/models"
)

// Candidate is an agent who may take a conversation in this pass: connected,
// online, enabled, and below their cap.
type Candidate struct {
	// Agent is the agent as the pass knows them: read from the store at the
	// start of the pass, with OpenChats and LastAssignedAt updated for
	// assignments the pass has made since.
	Agent *models.Agent
	// Load is the number of conversations the agent holds now (OpenChats).
	Load int
	// Capacity is the agent's cap (Agent.Capacity with the server default).
	Capacity int
	// PassSeq orders the assignments made in this pass (0: none yet): the
	// clock may read the same time for all of them, so round-robin breaks
	// ties in LastAssignedAt with it.
	PassSeq int
}

// Strategy chooses, among eligible candidates, the agent who gets a queued
// conversation. The dispatcher handles everything around the choice (who is
// eligible, caps, the conditional store call, retries), so a strategy is a
// pure function of its inputs plus whatever state it keeps itself;
// round-robin or department-aware strategies implement the same interface.
// Pick is called from one pass at a time.
type Strategy interface {
	// Name is stored with each assignment (models.Assignment.Strategy).
	Name() string
	// Pick returns the index in cands of the agent who should get c, or -1
	// to leave c queued for now. Every candidate has Load < Capacity.
	Pick(c *models.Conversation, cands []Candidate) int
}

// LeastBusy gives each conversation to the candidate with the lowest load
// relative to their cap (OpenChats/Capacity). Ties go to the agent idle
// longest: never assigned first, then the earliest LastAssignedAt, then the
// lowest ID so that the choice is deterministic.
type LeastBusy struct{}

var _ Strategy = LeastBusy{}

// StrategyLeastBusy is LeastBusy's name.
const StrategyLeastBusy = "least-busy"

// Name returns "least-busy".
func (LeastBusy) Name() string { return StrategyLeastBusy }

// Pick returns the least busy candidate, or -1 if cands is empty.
func (LeastBusy) Pick(_ *models.Conversation, cands []Candidate) int {
	best := -1
	for i := range cands {
		if best < 0 || lessBusy(&cands[i], &cands[best]) {
			best = i
		}
	}
	return best
}

// lessBusy reports whether a should be preferred over b.
func lessBusy(a, b *Candidate) bool {
	// Compare Load/Capacity without division: a.L/a.C < b.L/b.C.
	// A zero capacity never reaches a strategy (it is never below its cap),
	// but guard anyway so that such an agent sorts last.
	ac, bc := a.Capacity, b.Capacity
	if ac <= 0 || bc <= 0 {
		if (ac <= 0) != (bc <= 0) {
			return bc <= 0
		}
	} else if l, r := a.Load*bc, b.Load*ac; l != r {
		return l < r
	}
	at, bt := a.Agent.LastAssignedAt, b.Agent.LastAssignedAt
	switch {
	case at == nil && bt != nil:
		return true
	case at != nil && bt == nil:
		return false
	case at != nil && bt != nil && !at.Equal(*bt):
		return at.Before(*bt)
	}
	return a.Agent.ID < b.Agent.ID
}
