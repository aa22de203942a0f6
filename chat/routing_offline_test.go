package chat

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/internal/smtpsink"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/memstore"
	"github.com/kefu-chat/kefu/models/wire"
	"github.com/kefu-chat/kefu/realtime"
)

// fixedPresence is a VisitorPresence whose answer the test sets.
type fixedPresence bool

func (p fixedPresence) VisitorConnected(context.Context, string) (bool, error) { return bool(p), nil }

// brokenPresence is a VisitorPresence that cannot answer (the database is
// down).
type brokenPresence struct{}

func (brokenPresence) VisitorConnected(context.Context, string) (bool, error) {
	return false, models.Errorf(models.EUNAVAILABLE, "database unavailable")
}

func newTestService(t *testing.T, now func() time.Time) (*Service, *memstore.Store) {
	t.Helper()
	st := memstore.New()
	bus := realtime.NewMemoryBus()
	t.Cleanup(func() { bus.Close() })
	return New(st, bus, Options{Now: now}), st
}

func TestMailer(t *testing.T) {
	sink := smtpsink.Start(t)
	m, err := NewMailer("smtp://" + sink.Addr + "?from=shop@example.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send("ann@example.test", "Hello", "line one\nline two"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := sink.Next(t)
	if got.From != "<shop@example.test>" || len(got.To) != 1 || got.To[0] != "ann@example.test" ||
		!strings.Contains(got.Data, "Subject: Hello\r\n") || !strings.Contains(got.Data, "line one\r\nline two") {
		t.Errorf("mail = %+v", got)
	}
	for _, tc := range []struct{ to, subject string }{
		{"ann@example.test\r\nBcc: eve@example.test", "Hi"},
		{"ann@example.test", "Hi\r\nBcc: eve@example.test"},
		{"not-an-address", "Hi"},
	} {
		if err := m.Send(tc.to, tc.subject, "x"); models.ErrorCode(err) != models.EINVALID {
			t.Errorf("Send(%q, %q) = %v; want EINVALID", tc.to, tc.subject, err)
		}
	}
	for _, bad := range []string{"http://x:25", "smtp://", "smtp://host-without-port"} {
		if _, err := NewMailer(bad); err == nil {
			t.Errorf("NewMailer(%q) accepted", bad)
		}
	}
}

func TestMailIfAway(t *testing.T) {
	ctx := t.Context()
	sink := smtpsink.Start(t)
	mailer, err := NewMailer("smtp://" + sink.Addr)
	if err != nil {
		t.Fatal(err)
	}
	s, st := newTestService(t, nil)
	v := &models.Visitor{TokenHash: strings.Repeat("a", 64), PageURL: "https://shop.example/cart"}
	if err := st.CreateVisitor(ctx, v); err != nil {
		t.Fatal(err)
	}
	res, err := st.SendVisitorMessage(ctx, models.VisitorMessage{VisitorID: v.ID, ClientID: "m1", Body: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	conv := res.Conversation.ID

	away := NewAway(s, Offline{Mailer: mailer, Presence: fixedPresence(false), PublicURL: "https://kefu.example"})
	if away.MailIfAway(ctx, conv, "Ana", "Your parcel left") {
		t.Fatal("mailed a shopper who left no address")
	}
	for _, bad := range []string{"", "ann", "ann@", "@x", "a b@x.test", "ann@x.test\r\nBcc: e@x.test"} {
		if _, err := away.SetVisitorEmail(ctx, v, bad); models.ErrorCode(err) != models.EINVALID {
			t.Errorf("SetVisitorEmail(%q) = %v; want EINVALID", bad, err)
		}
	}
	if f, err := away.SetVisitorEmail(ctx, v, " ann@example.test "); err != nil || f.Type != wire.TypeEmailSaved {
		t.Fatalf("SetVisitorEmail = %+v, %v", f, err)
	}
	if NewAway(s, Offline{Mailer: mailer, Presence: fixedPresence(true)}).MailIfAway(ctx, conv, "Ana", "x") {
		t.Error("mailed a shopper who is connected")
	}
	if NewAway(s, Offline{Presence: fixedPresence(false)}).MailIfAway(ctx, conv, "Ana", "x") {
		t.Error("mailed without SMTP configured")
	}
	if NewAway(s, Offline{Mailer: mailer, Presence: brokenPresence{}}).MailIfAway(ctx, conv, "Ana", "x") {
		t.Error("mailed although presence could not be read")
	}
	if !away.MailIfAway(ctx, conv, "Ana", "Your parcel left") {
		t.Fatal("no mail to an away shopper with an address")
	}
	got := sink.Next(t)
	if got.To[0] != "ann@example.test" || !strings.Contains(got.Data, "Ana replied") ||
		!strings.Contains(got.Data, "Your parcel left") || !strings.Contains(got.Data, "https://shop.example/cart") {
		t.Errorf("mail = %+v; want the reply and a link back to the shop page", got)
	}
}

func TestCloseInactive(t *testing.T) {
	ctx := t.Context()
	var mu sync.Mutex
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s, st := newTestService(t, clock)
	open := func(token string) string {
		v := &models.Visitor{TokenHash: strings.Repeat(token, 64)}
		if err := st.CreateVisitor(ctx, v); err != nil {
			t.Fatal(err)
		}
		res, err := st.SendVisitorMessage(ctx, models.VisitorMessage{VisitorID: v.ID, ClientID: "m1", Body: "hi", Now: clock()})
		if err != nil {
			t.Fatal(err)
		}
		return res.Conversation.ID
	}
	a := &models.Agent{Email: "a@shop.test", Name: "A", Role: models.RoleAgent, PasswordHash: "x"}
	if err := st.CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	idleQueued := open("a")
	idleAssigned := open("b")
	if _, err := st.AssignConversation(ctx, models.Assignment{ConversationID: idleAssigned, AgentID: a.ID, Capacity: 5, Now: clock()}); err != nil {
		t.Fatal(err)
	}
	advance(20 * time.Minute)
	fresh := open("c")
	advance(15 * time.Minute)

	n, err := s.CloseInactive(ctx, 30*time.Minute)
	if err != nil || n != 2 {
		t.Fatalf("CloseInactive = %d, %v; want 2", n, err)
	}
	for _, id := range []string{idleQueued, idleAssigned} {
		c, _ := st.Conversation(ctx, id)
		msgs, _ := st.Messages(ctx, id, 0, 10)
		if c.Status != models.StatusResolved || len(msgs) != 2 || msgs[1].SenderKind != models.SenderSystem ||
			!strings.Contains(msgs[1].Body, "closed after 30m0s") {
			t.Errorf("idle conversation %s: %s with %d messages; want resolved after a system message", id, c.Status, len(msgs))
		}
	}
	if c, _ := st.Conversation(ctx, fresh); c.Status != models.StatusQueued {
		t.Errorf("recent conversation is %s; want it left open", c.Status)
	}
	if ag, _ := st.Agent(ctx, a.ID); ag.OpenChats != 0 {
		t.Errorf("agent OpenChats %d after close; want 0", ag.OpenChats)
	}
	if n, _ := s.CloseInactive(ctx, 0); n != 0 {
		t.Errorf("CloseInactive(0) closed %d; 0 means off", n)
	}
}
