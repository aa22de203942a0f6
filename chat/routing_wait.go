package chat

import (
	"context"
	"sync"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
	"github.com/kefu-chat/kefu/routing"
)

// Presences is the part of the dispatcher the wait estimate needs.
type Presences interface {
	Presences() map[string]routing.Presence
}

// RoutingNotifier is the dispatcher's Notifier: the Service, with queue
// positions that carry an estimated wait, and requeue notices in words.
type RoutingNotifier struct {
	*Service
	defMaxChats int

	mu       sync.Mutex
	pres     Presences
	avg      time.Duration // average handling time of recent conversations
	samples  int
	computed time.Time
}

var _ routing.Notifier = (*RoutingNotifier)(nil)

// NewRoutingNotifier wraps s; defMaxChats is the cap of agents without
// their own. Call SetPresences once the dispatcher exists.
func NewRoutingNotifier(s *Service, defMaxChats int) *RoutingNotifier {
	return &RoutingNotifier{Service: s, defMaxChats: defMaxChats}
}

// SetPresences sets where agents' presence is read from.
func (n *RoutingNotifier) SetPresences(p Presences) {
	n.mu.Lock()
	n.pres = p
	n.mu.Unlock()
}

// requeueTexts are what shoppers read when their conversation goes back to
// the queue, by the dispatcher's reason.
var requeueTexts = map[string]string{
	routing.ReasonAgentOffline: "Your agent is no longer available. You are back in the queue and the next free agent will continue this conversation.",
	routing.ReasonUnanswered:   "Sorry for the wait: we are passing your conversation to the next free agent.",
}

// Requeued is Service.Requeued with the reason in words.
func (n *RoutingNotifier) Requeued(ctx context.Context, c *models.Conversation, fromAgentID, reason string) {
	text, ok := requeueTexts[reason]
	if !ok {
		text = requeueTexts[routing.ReasonAgentOffline]
	}
	n.Service.Requeued(ctx, c, fromAgentID, text)
}

// handlingSample is how many recently resolved conversations the average
// handling time is taken over, and how long it is reused.
const (
	handlingSample = 50
	handlingTTL    = 30 * time.Second
)

// handlingTime returns the average time from assignment to resolution of
// recent conversations, recomputed at most every handlingTTL; ok is false
// when there are none yet.
func (n *RoutingNotifier) handlingTime(ctx context.Context) (time.Duration, bool) {
	now := n.now()
	n.mu.Lock()
	if n.samples > 0 && now.Sub(n.computed) < handlingTTL {
		avg, ok := n.avg, n.samples > 0
		n.mu.Unlock()
		return avg, ok
	}
	n.mu.Unlock()
	convs, err := n.store.Conversations(ctx, models.ConversationFilter{Statuses: []models.Status{models.StatusResolved}, Limit: handlingSample})
	if err != nil {
		return 0, false
	}
	var sum time.Duration
	k := 0
	for _, c := range convs {
		if c.AssignedAt != nil && c.ResolvedAt != nil && c.ResolvedAt.After(*c.AssignedAt) {
			sum += c.ResolvedAt.Sub(*c.AssignedAt)
			k++
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.computed, n.samples = now, k
	if k > 0 {
		n.avg = sum / time.Duration(k)
	}
	return n.avg, k > 0
}

// slots counts the conversations online agents can hold at once.
func (n *RoutingNotifier) slots(ctx context.Context) int {
	n.mu.Lock()
	p := n.pres
	n.mu.Unlock()
	if p == nil {
		return 0
	}
	pres := p.Presences()
	agents, err := n.store.Agents(ctx)
	if err != nil {
		return 0
	}
	total := 0
	for _, a := range agents {
		if pr := pres[a.ID]; !a.Disabled && pr.Connections > 0 && pr.Status == routing.StatusOnline {
			total += a.Capacity(n.defMaxChats)
		}
	}
	return total
}

// EstimateWait returns the estimated wait of the shopper at position
// (1-based): with every online agent's slots busy, one frees up every
// avg/slots on average, so the shopper waits about position×avg/slots.
// ok is false when it cannot know (no handling history, nobody online).
func EstimateWait(position int, avg time.Duration, slots int) (seconds int, ok bool) {
	if position <= 0 || avg <= 0 || slots <= 0 {
		return 0, false
	}
	d := time.Duration(position) * avg / time.Duration(slots)
	return int((d + time.Second - 1) / time.Second), true
}

// QueueChanged pushes the queue's head to every agent and to each waiting
// shopper their place and, when it can be estimated, their wait.
func (n *RoutingNotifier) QueueChanged(ctx context.Context, queue []*models.Conversation) {
	head := queue
	if len(head) > n.opts.QueueFrameLimit {
		head = head[:n.opts.QueueFrameLimit]
	}
	views, err := n.agentViews(ctx, head)
	if err != nil {
		n.log.Warn("building queue frame", "err", err)
	} else {
		n.publish(ctx, models.EventQueue, models.Audience{AllAgents: true},
			wire.ServerFrame{Type: wire.TypeQueue, Queue: nonNil(views)})
	}
	if len(queue) == 0 {
		return
	}
	avg, known := n.handlingTime(ctx)
	slots := 0
	if known {
		slots = n.slots(ctx)
	}
	for i, c := range queue {
		f := wire.ServerFrame{Type: wire.TypePosition, ConversationID: c.ID, Position: i + 1}
		if secs, ok := EstimateWait(i+1, avg, slots); ok {
			f.EstimatedWaitSeconds = &secs
		}
		n.publish(ctx, models.EventQueue, models.Audience{Visitors: []string{c.VisitorID}}, f)
	}
}
