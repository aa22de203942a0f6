package chat

import (
	"context"
	"sync"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
	"github.com/kefu-chat/kefu/routing"
)

// Waits is the part of the dispatcher the queue frames need: each waiting
// shopper's place and estimated wait (routing.Dispatcher.EstimateWaits).
type Waits interface {
	EstimateWaits(ctx context.Context, queue []*models.Conversation) ([]routing.Wait, error)
}

// RoutingNotifier is the dispatcher's Notifier: the Service, with queue
// positions that carry an estimated wait, and requeue notices in words.
type RoutingNotifier struct {
	*Service

	mu    sync.Mutex
	waits Waits
}

var _ routing.Notifier = (*RoutingNotifier)(nil)

// NewRoutingNotifier wraps s. Call SetWaits once the dispatcher exists.
func NewRoutingNotifier(s *Service) *RoutingNotifier {
	return &RoutingNotifier{Service: s}
}

// SetWaits sets where places and waits are estimated.
func (n *RoutingNotifier) SetWaits(w Waits) {
	n.mu.Lock()
	n.waits = w
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

// QueueChanged pushes the queue's head to every agent and to each waiting
// shopper their place among those waiting for the same agents and, when it
// can be estimated, their wait.
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
	n.mu.Lock()
	w := n.waits
	n.mu.Unlock()
	var waits []routing.Wait
	if w != nil {
		var err error
		if waits, err = w.EstimateWaits(ctx, queue); err != nil {
			n.log.Warn("estimating waits", "err", err)
			waits = nil
		}
	}
	for i, c := range queue {
		f := wire.ServerFrame{Type: wire.TypePosition, ConversationID: c.ID, Position: i + 1}
		if i < len(waits) {
			f.Position = waits[i].Position
			if waits[i].Known {
				secs := waits[i].Seconds
				f.EstimatedWaitSeconds = &secs
			}
		}
		n.publish(ctx, models.EventQueue, models.Audience{Visitors: []string{c.VisitorID}}, f)
	}
}
