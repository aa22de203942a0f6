// Package storetest is the contract suite of models.Store: Run checks every
// promise the doc comments in models/store.go make, against any
// implementation, and every implementation (sqlstore on SQLite and
// PostgreSQL, memstore) runs it unchanged. It also exports MustX helpers that
// other packages' tests use to set up agents, visitors and conversations.
//
// Helpers fail the test (tb.Fatal) on any error, so they must be called from
// the test's goroutine.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
)

// T0 is the clock the suite starts from. Times in the suite are whole
// milliseconds after it, which every database keeps exactly.
var T0 = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// At returns T0 plus ms milliseconds.
func At(ms int) time.Time { return T0.Add(time.Duration(ms) * time.Millisecond) }

// RandomHex returns n random bytes, hex-encoded: unique ids, hashes, client ids.
func RandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// MustCreateAgent stores a, filling in what is missing (a unique e-mail, a
// name, RoleAgent, a password hash), and returns the agent as stored.
func MustCreateAgent(tb testing.TB, s models.Store, a models.Agent) *models.Agent {
	tb.Helper()
	if a.Email == "" {
		a.Email = "agent-" + RandomHex(6) + "@example.com"
	}
	if a.Name == "" {
		a.Name = "Agent " + a.Email
	}
	if a.Role == "" {
		a.Role = models.RoleAgent
	}
	if a.PasswordHash == "" {
		a.PasswordHash = "$2a$10$notarealhash"
	}
	if err := s.CreateAgent(context.Background(), &a); err != nil {
		tb.Fatalf("CreateAgent(%s): %v", a.Email, err)
	}
	got, err := s.Agent(context.Background(), a.ID)
	if err != nil {
		tb.Fatalf("Agent(%s) after create: %v", a.ID, err)
	}
	return got
}

// MustCreateVisitor stores v, giving it a random token hash if it has none,
// and returns the visitor as stored.
func MustCreateVisitor(tb testing.TB, s models.Store, v models.Visitor) *models.Visitor {
	tb.Helper()
	if v.TokenHash == "" {
		v.TokenHash = RandomHex(32)
	}
	if err := s.CreateVisitor(context.Background(), &v); err != nil {
		tb.Fatalf("CreateVisitor: %v", err)
	}
	got, err := s.Visitor(context.Background(), v.ID)
	if err != nil {
		tb.Fatalf("Visitor(%s) after create: %v", v.ID, err)
	}
	return got
}

// MustSendVisitorMessage sends body from the visitor with a fresh ClientID
// at now.
func MustSendVisitorMessage(tb testing.TB, s models.Store, visitorID, body string, now time.Time) models.SendResult {
	tb.Helper()
	res, err := s.SendVisitorMessage(context.Background(), models.VisitorMessage{
		VisitorID: visitorID, ClientID: "c-" + RandomHex(8), Body: body, Now: now,
	})
	if err != nil {
		tb.Fatalf("SendVisitorMessage(%s): %v", visitorID, err)
	}
	return res
}

// MustOpenConversation creates a visitor whose first message, at now, opens
// a queued conversation, and returns that conversation.
func MustOpenConversation(tb testing.TB, s models.Store, now time.Time) *models.Conversation {
	tb.Helper()
	v := MustCreateVisitor(tb, s, models.Visitor{})
	return MustSendVisitorMessage(tb, s, v.ID, "hello", now).Conversation
}

// MustAppendAgentMessage appends body from the agent with a fresh ClientID.
func MustAppendAgentMessage(tb testing.TB, s models.Store, conversationID, agentID, body string, now time.Time) models.SendResult {
	tb.Helper()
	res, err := s.AppendMessage(context.Background(), models.NewMessage{
		ConversationID: conversationID, SenderKind: models.SenderAgent, SenderID: agentID,
		ClientID: "c-" + RandomHex(8), Body: body, Now: now,
	})
	if err != nil {
		tb.Fatalf("AppendMessage(%s): %v", conversationID, err)
	}
	return res
}

// MustAssign gives the conversation to the agent with the given capacity.
func MustAssign(tb testing.TB, s models.Store, conversationID, agentID string, capacity int, now time.Time) *models.Conversation {
	tb.Helper()
	c, err := s.AssignConversation(context.Background(), models.Assignment{
		ConversationID: conversationID, AgentID: agentID, Capacity: capacity,
		Strategy: "test", Reason: `{"why":"test"}`, Now: now,
	})
	if err != nil {
		tb.Fatalf("AssignConversation(%s → %s): %v", conversationID, agentID, err)
	}
	return c
}

// MustAgent reads an agent back.
func MustAgent(tb testing.TB, s models.Store, id string) *models.Agent {
	tb.Helper()
	a, err := s.Agent(context.Background(), id)
	if err != nil {
		tb.Fatalf("Agent(%s): %v", id, err)
	}
	return a
}

// MustConversation reads a conversation back.
func MustConversation(tb testing.TB, s models.Store, id string) *models.Conversation {
	tb.Helper()
	c, err := s.Conversation(context.Background(), id)
	if err != nil {
		tb.Fatalf("Conversation(%s): %v", id, err)
	}
	return c
}

// MustMessages reads all of a conversation's messages (up to 500).
func MustMessages(tb testing.TB, s models.Store, conversationID string) []*models.Message {
	tb.Helper()
	ms, err := s.Messages(context.Background(), conversationID, 0, 500)
	if err != nil {
		tb.Fatalf("Messages(%s): %v", conversationID, err)
	}
	return ms
}

// wantCode fails tb unless err has the code.
func wantCode(tb testing.TB, what string, err error, want models.Code) {
	tb.Helper()
	if got := models.ErrorCode(err); got != want {
		tb.Errorf("%s: error code %q (%v), want %q", what, got, err, want)
	}
}
