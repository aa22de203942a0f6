package chat

import (
	"context"
	"sync"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// TypingInterval is the least time between two typing frames forwarded for
// one sender in one conversation; those sent in between are dropped
// silently. Clients send typing every couple of seconds while the user
// types and show the indicator for a few seconds after the last one.
const TypingInterval = 2 * time.Second

// typingThrottle remembers when each sender's typing was last forwarded,
// per conversation. It is in memory and per instance: typing is never
// stored, and an instance forwarding a little more than another is
// harmless. The zero value is ready to use.
type typingThrottle struct {
	mu   sync.Mutex
	last map[typingKey]time.Time
}

type typingKey struct{ sender, conversation string }

// sweepAt is the map size at which stale entries are dropped, so that the
// map holds only senders who typed within the last interval or so.
const sweepAt = 4096

// allow reports whether a typing frame of sender in conversation at now may
// be forwarded, and if so records it.
func (t *typingThrottle) allow(sender, conversation string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = make(map[typingKey]time.Time)
	}
	k := typingKey{sender, conversation}
	if prev, ok := t.last[k]; ok && now.Sub(prev) < TypingInterval && !now.Before(prev) {
		return false
	}
	if len(t.last) >= sweepAt {
		for key, at := range t.last {
			if now.Sub(at) >= TypingInterval {
				delete(t.last, key)
			}
		}
	}
	t.last[k] = now
	return true
}

// VisitorTyping tells the agent holding the shopper's conversation that the
// shopper is typing. conversationID may be empty for the shopper's open
// conversation. Nothing is sent while the conversation waits in the queue,
// nor more than once per TypingInterval; neither is an error.
func (s *Service) VisitorTyping(ctx context.Context, v *models.Visitor, conversationID string) error {
	var c *models.Conversation
	var err error
	if conversationID == "" {
		c, err = s.store.OpenConversationOf(ctx, v.ID)
	} else {
		c, err = s.store.Conversation(ctx, conversationID)
		if err == nil && c.VisitorID != v.ID {
			err = models.Errorf(models.ENOTFOUND, "no such conversation")
		}
	}
	if err != nil {
		return err
	}
	if c.Status != models.StatusAssigned || c.AgentID == nil || !s.typing.allow("v:"+v.ID, c.ID, s.now()) {
		return nil
	}
	s.publish(ctx, EventTyping, models.Audience{Agents: []string{*c.AgentID}}, wire.ServerFrame{Type: wire.TypeTyping,
		ConversationID: c.ID, SenderKind: models.SenderVisitor, SenderName: v.Name})
	return nil
}

// AgentTyping tells the shopper that the agent holding their conversation
// is typing. ENOTFOUND for a conversation the agent may not read; EFORBIDDEN
// for one they may read but do not hold (as for messages).
func (s *Service) AgentTyping(ctx context.Context, a *models.Agent, conversationID string) error {
	c, err := s.heldBy(ctx, a, conversationID)
	if err != nil {
		return err
	}
	if !s.typing.allow("a:"+a.ID, c.ID, s.now()) {
		return nil
	}
	s.publish(ctx, EventTyping, models.Audience{Visitors: []string{c.VisitorID}}, wire.ServerFrame{Type: wire.TypeTyping,
		ConversationID: c.ID, SenderKind: models.SenderAgent, SenderName: a.Name})
	return nil
}

// Event types of issue 5's features. The hub delivers any event's frame to
// its audience, so these need nothing from it.
const (
	EventTyping = "typing" // someone is typing; never stored
	EventRead   = "read"   // a side's read mark rose
)

// heldBy returns the conversation if it is assigned to a: ENOTFOUND if the
// agent may not read it (so agents cannot probe for others'), EFORBIDDEN
// if they may read it but do not hold it.
func (s *Service) heldBy(ctx context.Context, a *models.Agent, conversationID string) (*models.Conversation, error) {
	if conversationID == "" {
		return nil, models.Errorf(models.EINVALID, "conversation_id is required")
	}
	c, err := s.Conversation(ctx, a, conversationID)
	if err != nil {
		return nil, err
	}
	if c.Status != models.StatusAssigned || c.AgentID == nil || *c.AgentID != a.ID {
		return nil, models.Errorf(models.EFORBIDDEN, "the conversation is not assigned to you")
	}
	return c, nil
}
