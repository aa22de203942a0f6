package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
)

func newAttachment(name string) *models.Attachment {
	return &models.Attachment{Name: name, ContentType: "image/png", Size: 42, BlobKey: "blob-" + RandomHex(8)}
}

func testSendAttachment(t *testing.T, s models.Store) {
	ctx := t.Context()
	c := MustOpenConversation(t, s, At(0))
	a := newAttachment("cat.png")
	res, err := s.SendAttachment(ctx, models.NewMessage{ConversationID: c.ID, SenderKind: models.SenderVisitor,
		SenderID: c.VisitorID, ClientID: "up-1", Body: "cat.png", Now: At(10)}, a)
	if err != nil {
		t.Fatalf("SendAttachment: %v", err)
	}
	if res.Duplicate || res.Message == nil || res.Message.Seq != 2 || res.Conversation.LastSeq != 2 {
		t.Fatalf("result = %+v, want a new message with seq 2", res)
	}
	if a.ID == "" || a.MessageID != res.Message.ID || a.ConversationID != c.ID || a.CreatedAt.IsZero() {
		t.Fatalf("attachment after send = %+v; want ID, MessageID %s, ConversationID %s, CreatedAt filled", a, res.Message.ID, c.ID)
	}
	got, err := s.Attachment(ctx, a.ID)
	if err != nil {
		t.Fatalf("Attachment: %v", err)
	}
	g, w := *got, *a
	g.CreatedAt, w.CreatedAt = time.Time{}, time.Time{}
	if g != w || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("Attachment = %+v, want %+v", got, a)
	}
	msgs := MustMessages(t, s, c.ID)
	if len(msgs) != 2 || msgs[1].ID != res.Message.ID || msgs[1].Body != "cat.png" {
		t.Fatalf("messages = %+v, want the attachment's message second", msgs)
	}
	byMsg, err := s.MessageAttachments(ctx, []string{msgs[0].ID, msgs[1].ID, "no-such-message"})
	if err != nil {
		t.Fatalf("MessageAttachments: %v", err)
	}
	if len(byMsg) != 1 || byMsg[msgs[1].ID] == nil || byMsg[msgs[1].ID].ID != a.ID {
		t.Fatalf("MessageAttachments = %v, want only %s → %s", byMsg, msgs[1].ID, a.ID)
	}
	if empty, err := s.MessageAttachments(ctx, nil); err != nil || len(empty) != 0 {
		t.Errorf("MessageAttachments(nil) = %v, %v; want empty", empty, err)
	}
	_, err = s.Attachment(ctx, "no-such-attachment")
	wantCode(t, "Attachment of an unknown id", err, models.ENOTFOUND)

	t.Run("duplicate client id stores nothing", func(t *testing.T) {
		again := newAttachment("other.png")
		res2, err := s.SendAttachment(ctx, models.NewMessage{ConversationID: c.ID, SenderKind: models.SenderVisitor,
			SenderID: c.VisitorID, ClientID: "up-1", Body: "other.png", Now: At(20)}, again)
		if err != nil {
			t.Fatalf("resend: %v", err)
		}
		if !res2.Duplicate || res2.Message.ID != res.Message.ID {
			t.Fatalf("resend = %+v, want Duplicate with the first message", res2)
		}
		if n := len(MustMessages(t, s, c.ID)); n != 2 {
			t.Errorf("%d messages after a duplicate, want 2", n)
		}
		if again.ID != "" {
			if _, err := s.Attachment(ctx, again.ID); err == nil {
				t.Error("a duplicate's attachment row was stored")
			}
		}
	})
}

func testSendAttachmentErrors(t *testing.T, s models.Store) {
	ctx := t.Context()
	c := MustOpenConversation(t, s, At(0))
	agent := MustCreateAgent(t, s, models.Agent{})
	other := MustCreateAgent(t, s, models.Agent{})
	MustAssign(t, s, c.ID, agent.ID, 5, At(1))
	resolved := MustOpenConversation(t, s, At(2))
	if _, err := s.ResolveConversation(ctx, resolved.ID, At(3)); err != nil {
		t.Fatal(err)
	}
	visitorMsg := func(convID string) models.NewMessage {
		return models.NewMessage{ConversationID: convID, SenderKind: models.SenderVisitor, SenderID: c.VisitorID,
			ClientID: "c-" + RandomHex(6), Body: "f.png", Now: At(5)}
	}
	for _, tc := range []struct {
		name string
		m    models.NewMessage
		a    *models.Attachment
		want models.Code
	}{
		{"no attachment", visitorMsg(c.ID), nil, models.EINVALID},
		{"no name", visitorMsg(c.ID), &models.Attachment{ContentType: "image/png", BlobKey: "k"}, models.EINVALID},
		{"no type", visitorMsg(c.ID), &models.Attachment{Name: "n", BlobKey: "k"}, models.EINVALID},
		{"no blob key", visitorMsg(c.ID), &models.Attachment{Name: "n", ContentType: "image/png"}, models.EINVALID},
		{"negative size", visitorMsg(c.ID), &models.Attachment{Name: "n", ContentType: "image/png", BlobKey: "k", Size: -1}, models.EINVALID},
		{"system sender", models.NewMessage{ConversationID: c.ID, SenderKind: models.SenderSystem, Body: "x"}, newAttachment("n"), models.EINVALID},
		{"no client id", models.NewMessage{ConversationID: c.ID, SenderKind: models.SenderVisitor, SenderID: c.VisitorID, Body: "x"}, newAttachment("n"), models.EINVALID},
		{"no body", models.NewMessage{ConversationID: c.ID, SenderKind: models.SenderVisitor, SenderID: c.VisitorID, ClientID: "x"}, newAttachment("n"), models.EINVALID},
		{"unknown conversation", visitorMsg("no-such-conversation"), newAttachment("n"), models.ENOTFOUND},
		{"resolved", visitorMsg(resolved.ID), newAttachment("n"), models.ECONFLICT},
		{"not the agent's", models.NewMessage{ConversationID: c.ID, SenderKind: models.SenderAgent, SenderID: other.ID,
			ClientID: "c-x", Body: "f", RequireAgentID: other.ID}, newAttachment("n"), models.EFORBIDDEN},
	} {
		_, err := s.SendAttachment(ctx, tc.m, tc.a)
		wantCode(t, tc.name, err, tc.want)
	}
	if n := len(MustMessages(t, s, c.ID)); n != 1 {
		t.Errorf("%d messages after refused sends, want 1", n)
	}
	if got := MustConversation(t, s, c.ID).LastSeq; got != 1 {
		t.Errorf("LastSeq = %d after refused sends, want 1", got)
	}
	if _, err := s.SendAttachment(ctx, models.NewMessage{ConversationID: c.ID, SenderKind: models.SenderAgent, SenderID: agent.ID,
		ClientID: "c-ok", Body: "f", RequireAgentID: agent.ID}, newAttachment("n")); err != nil {
		t.Errorf("the assigned agent's attachment: %v", err)
	}
}

// testSendAttachmentConcurrent: one upload retried many times at once
// stores one message and one attachment row.
func testSendAttachmentConcurrent(t *testing.T, s models.Store) {
	c := MustOpenConversation(t, s, At(0))
	const n = 12
	var wg sync.WaitGroup
	results := make([]models.SendResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.SendAttachment(context.Background(), models.NewMessage{ConversationID: c.ID,
				SenderKind: models.SenderVisitor, SenderID: c.VisitorID, ClientID: "same", Body: "f.png", Now: At(5)}, newAttachment("f.png"))
		}()
	}
	wg.Wait()
	fresh := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("send %d: %v", i, errs[i])
		}
		if !results[i].Duplicate {
			fresh++
		}
		if results[i].Message.ID != results[0].Message.ID {
			t.Fatalf("send %d acknowledged message %s, send 0 %s", i, results[i].Message.ID, results[0].Message.ID)
		}
	}
	if fresh != 1 {
		t.Errorf("%d sends stored a message, want 1", fresh)
	}
	msgs := MustMessages(t, s, c.ID)
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	atts, err := s.MessageAttachments(t.Context(), []string{msgs[1].ID})
	if err != nil || len(atts) != 1 {
		t.Fatalf("MessageAttachments = %v, %v; want one", atts, err)
	}
}

func testMarkRead(t *testing.T, s models.Store) {
	ctx := t.Context()
	c := MustOpenConversation(t, s, At(0))
	agent := MustCreateAgent(t, s, models.Agent{})
	MustAssign(t, s, c.ID, agent.ID, 5, At(1))
	MustAppendAgentMessage(t, s, c.ID, agent.ID, "two", At(2))
	MustAppendAgentMessage(t, s, c.ID, agent.ID, "three", At(3))

	steps := []struct {
		name        string
		side        models.SenderKind
		seq         int64
		want        models.Code
		visitorMark int64
		agentMark   int64
	}{
		{"visitor reads 2", models.SenderVisitor, 2, "", 2, 0},
		{"agent reads 1", models.SenderAgent, 1, "", 2, 1},
		{"visitor goes back to 1: no change", models.SenderVisitor, 1, "", 2, 1},
		{"visitor again 2: no change", models.SenderVisitor, 2, "", 2, 1},
		{"visitor reads 3 (the last)", models.SenderVisitor, 3, "", 3, 1},
		{"beyond last_seq", models.SenderAgent, 4, models.EINVALID, 3, 1},
		{"negative", models.SenderAgent, -1, models.EINVALID, 3, 1},
		{"system side", models.SenderSystem, 1, models.EINVALID, 3, 1},
		{"zero is a no-op", models.SenderAgent, 0, "", 3, 1},
	}
	for _, st := range steps {
		got, err := s.MarkRead(ctx, c.ID, st.side, st.seq)
		wantCode(t, st.name, err, st.want)
		if err == nil && (got.VisitorReadSeq != st.visitorMark || got.AgentReadSeq != st.agentMark) {
			t.Errorf("%s: returned marks visitor %d agent %d, want %d %d", st.name, got.VisitorReadSeq, got.AgentReadSeq, st.visitorMark, st.agentMark)
		}
		stored := MustConversation(t, s, c.ID)
		if stored.VisitorReadSeq != st.visitorMark || stored.AgentReadSeq != st.agentMark {
			t.Errorf("%s: stored marks visitor %d agent %d, want %d %d", st.name, stored.VisitorReadSeq, stored.AgentReadSeq, st.visitorMark, st.agentMark)
		}
	}
	_, err := s.MarkRead(ctx, "no-such-conversation", models.SenderVisitor, 0)
	wantCode(t, "unknown conversation", err, models.ENOTFOUND)

	t.Run("resolved conversations may be marked", func(t *testing.T) {
		if _, err := s.ResolveConversation(ctx, c.ID, At(9)); err != nil {
			t.Fatal(err)
		}
		got, err := s.MarkRead(ctx, c.ID, models.SenderAgent, 3)
		if err != nil || got.AgentReadSeq != 3 {
			t.Fatalf("MarkRead after resolve = %+v, %v; want agent mark 3", got, err)
		}
	})
}

// testMarkReadConcurrent: marks raced from many goroutines end at the
// highest, whatever order they commit in.
func testMarkReadConcurrent(t *testing.T, s models.Store) {
	c := MustOpenConversation(t, s, At(0))
	for i := range 19 {
		MustSendVisitorMessage(t, s, c.VisitorID, "m", At(i+1))
	}
	var wg sync.WaitGroup
	for seq := int64(1); seq <= 20; seq++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.MarkRead(context.Background(), c.ID, models.SenderAgent, seq); err != nil {
				t.Errorf("MarkRead(%d): %v", seq, err)
			}
		}()
	}
	wg.Wait()
	if got := MustConversation(t, s, c.ID).AgentReadSeq; got != 20 {
		t.Fatalf("AgentReadSeq = %d after concurrent marks up to 20, want 20", got)
	}
}
