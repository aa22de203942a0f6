package handlers_test

import (
	"context"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/storetest"
	"github.com/kefu-chat/kefu/models/wire"
)

// TestWaitEstimatePerDepartment: a shopper waiting for a department hears
// their place among that department's shoppers and a wait from its own
// agents and its own handling history; a department with no history says
// it cannot estimate, whatever the others' history.
func TestWaitEstimatePerDepartment(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	ctx := context.Background()
	admin := login(t, srv, apptest.AdminEmail, apptest.AdminPassword).AccessToken
	one := 1
	ana := srv.CreateAgent(t, "ana@shop.test", "Ana", models.RoleAgent, testPassword)
	bo := srv.CreateAgent(t, "bo@shop.test", "Bo", models.RoleAgent, testPassword)
	for _, a := range []*models.Agent{ana, bo} {
		if _, err := srv.Store.UpdateAgent(ctx, a.ID, models.AgentUpdate{MaxChats: &one}); err != nil {
			t.Fatal(err)
		}
	}
	sales := mustDepartment(t, srv, admin, "Sales", "least-busy", ana.ID)
	gifts := mustDepartment(t, srv, admin, "Gifts", "least-busy", bo.ID)

	// Sales handled one conversation in ten minutes an hour ago; Gifts none.
	v := storetest.MustCreateVisitor(t, srv.Store, models.Visitor{})
	assigned := time.Now().Add(-time.Hour)
	res, err := srv.Store.SendVisitorMessage(ctx, models.VisitorMessage{VisitorID: v.ID, ClientID: "h-1", Body: "earlier", DepartmentID: &sales, Now: assigned})
	if err != nil {
		t.Fatal(err)
	}
	storetest.MustAssign(t, srv.Store, res.Conversation.ID, ana.ID, 1, assigned)
	if _, err := srv.Store.ResolveConversation(ctx, res.Conversation.ID, assigned.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}

	anaConn := connectAgent(t, srv, login(t, srv, "ana@shop.test", testPassword).AccessToken)
	boConn := connectAgent(t, srv, login(t, srv, "bo@shop.test", testPassword).AccessToken)
	position := func(s *shopper, conv string) wire.ServerFrame {
		t.Helper()
		return s.next("position of "+conv, func(f wire.ServerFrame) bool { return f.Type == wire.TypePosition && f.ConversationID == conv })
	}

	// Ana takes one Sales shopper and is full: the next one is first in
	// Sales' line, and one of Sales' 1 slots frees every 10 minutes.
	first := newShopper(t, srv, "")
	anaConn.waitConversation(first.sayIn(sales, "c-1", "one").ConversationID, models.StatusAssigned)
	second := newShopper(t, srv, "")
	c2 := second.sayIn(sales, "c-1", "two").ConversationID
	if p := position(second, c2); p.Position != 1 || p.EstimatedWaitSeconds == nil || *p.EstimatedWaitSeconds != 600 {
		t.Errorf("Sales position frame %+v (wait %v); want first in line, 600 s", p, p.EstimatedWaitSeconds)
	}

	// Gifts: Bo full too, but Gifts never handled a conversation: the
	// shopper is first in Gifts' line (second in the whole queue) and the
	// wait is unknown.
	third := newShopper(t, srv, "")
	boConn.waitConversation(third.sayIn(gifts, "c-1", "three").ConversationID, models.StatusAssigned)
	fourth := newShopper(t, srv, "")
	c4 := fourth.sayIn(gifts, "c-1", "four").ConversationID
	if p := position(fourth, c4); p.Position != 1 || p.EstimatedWaitSeconds != nil {
		t.Errorf("Gifts position frame %+v (wait %v); want first in line, no estimate", p, p.EstimatedWaitSeconds)
	}
}
