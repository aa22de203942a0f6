package chat

import (
	"context"

	"github.com/kefu-chat/kefu/auth"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// VisitorInfo is what the widget reports about the shopper's browser.
type VisitorInfo struct {
	PageURL, PageTitle, Lang, UserAgent string
	// Identity, when not nil, is a customer identity the caller verified
	// (auth.VerifyIdentity): it is stored on the visitor as verified.
	Identity *auth.Identity
}

// Hello identifies the shopper holding token, or makes a new visitor when the
// token is empty, malformed or unknown, and records info. It returns the
// visitor and the welcome frame, which carries the token to keep and the
// open conversation, if any.
func (s *Service) Hello(ctx context.Context, token string, info VisitorInfo) (*models.Visitor, wire.ServerFrame, error) {
	info = clipInfo(info)
	var v *models.Visitor
	if auth.ValidSecretFormat(auth.VisitorPrefix, token) {
		found, err := s.store.VisitorByTokenHash(ctx, auth.HashSecret(token))
		switch models.ErrorCode(err) {
		case "":
			v = found
		case models.ENOTFOUND:
		default:
			return nil, wire.ServerFrame{}, err
		}
	}
	if id := info.Identity; v != nil && id != nil && v.Verified && v.ExternalID != id.ID {
		v = nil // another customer on the same browser: never show them the last one's chats
	}
	now := s.now()
	created := v == nil
	if created {
		var hash string
		token, hash = auth.NewSecret(auth.VisitorPrefix)
		v = &models.Visitor{TokenHash: hash, PageURL: info.PageURL, PageTitle: info.PageTitle,
			Lang: info.Lang, UserAgent: info.UserAgent, CreatedAt: now, LastSeenAt: now}
		if err := s.store.CreateVisitor(ctx, v); err != nil {
			return nil, wire.ServerFrame{}, err
		}
	} else {
		updated, err := s.store.UpdateVisitor(ctx, v.ID, models.VisitorUpdate{
			PageURL: &info.PageURL, PageTitle: &info.PageTitle, Lang: &info.Lang, UserAgent: &info.UserAgent, Now: now})
		if err != nil {
			return nil, wire.ServerFrame{}, err
		}
		v = updated
	}
	if id := info.Identity; id != nil {
		yes := true
		updated, err := s.store.UpdateVisitor(ctx, v.ID, models.VisitorUpdate{
			Name: &id.Name, Email: &id.Email, ExternalID: &id.ID, Verified: &yes, Now: now})
		if err != nil {
			return nil, wire.ServerFrame{}, err
		}
		v = updated
	}
	vv := wire.NewVisitorView(v)
	welcome := wire.ServerFrame{Type: wire.TypeWelcome, Visitor: &vv, Token: token}
	if created {
		return v, welcome, nil // a visitor created just now has no conversation to look up
	}
	conv, err := s.store.OpenConversationOf(ctx, v.ID)
	switch models.ErrorCode(err) {
	case "":
		_, name := s.agentName(ctx, conv.AgentID)
		cv := wire.NewConversationView(conv, nil, nil)
		cv.AgentName = name
		welcome.Conversation = &cv
	case models.ENOTFOUND:
	default:
		return nil, wire.ServerFrame{}, err
	}
	return v, welcome, nil
}

func clipInfo(i VisitorInfo) VisitorInfo {
	i.PageURL = clip(i.PageURL, 2048)
	i.PageTitle = clip(i.PageTitle, 512)
	i.Lang = clip(i.Lang, 35)
	i.UserAgent = clip(i.UserAgent, 512)
	return i
}

// clip shortens s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// SendVisitorMessage stores a shopper's message in their open conversation,
// opening one if needed, then tells both parties and, for a new
// conversation, the dispatcher. It returns the acknowledgement for the
// sender; a resend of the same clientID gets the same acknowledgement and
// changes nothing. conversationID, when given, must be the visitor's open
// conversation (ECONFLICT if it was resolved, so the shopper's client learns
// the chat ended rather than silently starting a new one).
func (s *Service) SendVisitorMessage(ctx context.Context, v *models.Visitor, conversationID, clientID, body string) (wire.ServerFrame, error) {
	if err := s.checkText(clientID, body); err != nil {
		return wire.ServerFrame{}, err
	}
	key, openID := "v:"+v.ID, ""
	if open, err := s.store.OpenConversationOf(ctx, v.ID); err == nil {
		key, openID = open.ID, open.ID
	}
	unlock := s.lock(key)
	defer unlock()

	var res models.SendResult
	var err error
	if conversationID != "" {
		if err := s.visitorOwns(ctx, v, conversationID); err != nil {
			return wire.ServerFrame{}, err
		}
		res, err = s.store.AppendMessage(ctx, models.NewMessage{ConversationID: conversationID,
			SenderKind: models.SenderVisitor, SenderID: v.ID, ClientID: clientID, Body: body, Now: s.now()})
	} else {
		res, err = s.store.SendVisitorMessage(ctx, models.VisitorMessage{VisitorID: v.ID, ClientID: clientID, Body: body,
			OpenConversationID: openID, Now: s.now()})
	}
	if err != nil {
		return wire.ServerFrame{}, err
	}
	s.announceVisitorMessage(ctx, v, res)
	return ackFrame(res.Message), nil
}

// announceVisitorMessage tells both parties of a shopper's stored message,
// and for one that opened a conversation, the shopper and the dispatcher
// too. A duplicate was announced when it was first stored.
func (s *Service) announceVisitorMessage(ctx context.Context, v *models.Visitor, res models.SendResult) {
	if res.Duplicate {
		return
	}
	c := res.Conversation
	if res.Opened {
		s.publishConversation(ctx, c, nil, v)
	}
	s.publishMessage(ctx, c, res.Message, "")
	if res.Opened {
		s.kicker.Kick()
	}
}

// visitorOwns returns ENOTFOUND unless the conversation is the visitor's: a
// shopper may not even learn that another's conversation exists.
func (s *Service) visitorOwns(ctx context.Context, v *models.Visitor, conversationID string) error {
	c, err := s.store.Conversation(ctx, conversationID)
	if err != nil {
		return err
	}
	if c.VisitorID != v.ID {
		return models.Errorf(models.ENOTFOUND, "no such conversation")
	}
	return nil
}

// VisitorSync returns a page of the visitor's conversation after afterSeq.
func (s *Service) VisitorSync(ctx context.Context, v *models.Visitor, conversationID string, afterSeq int64, limit int) (wire.ServerFrame, error) {
	if err := s.visitorOwns(ctx, v, conversationID); err != nil {
		return wire.ServerFrame{}, err
	}
	return s.messagesFrame(ctx, conversationID, afterSeq, limit)
}

// VisitorResolve lets a shopper end their conversation.
func (s *Service) VisitorResolve(ctx context.Context, v *models.Visitor, conversationID string) error {
	if err := s.visitorOwns(ctx, v, conversationID); err != nil {
		return err
	}
	_, err := s.resolve(ctx, conversationID)
	return err
}
