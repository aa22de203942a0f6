package handlers_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

type deptBody struct {
	Department struct {
		ID       string   `json:"id"`
		Name     string   `json:"name"`
		Strategy string   `json:"strategy"`
		Members  []string `json:"members"`
	} `json:"department"`
}

// mustDepartment creates a department as the admin.
func mustDepartment(t *testing.T, srv *apptest.Server, admin, name, strategy string, members ...string) string {
	t.Helper()
	var out deptBody
	resp := request(t, "POST", srv.URL+"/api/departments", admin,
		map[string]any{"name": name, "strategy": strategy, "members": members}, &out)
	if resp.StatusCode != 201 || out.Department.ID == "" {
		t.Fatalf("create department %s: HTTP %d %+v", name, resp.StatusCode, out)
	}
	return out.Department.ID
}

// sayIn sends a first message for a department and waits for its ack.
func (s *shopper) sayIn(dept, clientID, body string) wire.ServerFrame {
	s.t.Helper()
	s.send(wire.ClientFrame{Type: wire.TypeSend, ClientID: clientID, Body: body, Department: dept})
	return s.next("ack of "+clientID, func(f wire.ServerFrame) bool { return f.Type == wire.TypeAck && f.ClientID == clientID })
}

func TestDepartmentRoutingTransferAndRecords(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	admin := login(t, srv, apptest.AdminEmail, apptest.AdminPassword).AccessToken
	a := srv.CreateAgent(t, "ana@shop.test", "Ana", models.RoleAgent, testPassword)
	b := srv.CreateAgent(t, "bo@shop.test", "Bo", models.RoleAgent, testPassword)
	aTok := login(t, srv, "ana@shop.test", testPassword).AccessToken
	bTok := login(t, srv, "bo@shop.test", testPassword).AccessToken
	returns := mustDepartment(t, srv, admin, "Returns", "least-busy", b.ID)

	t.Run("public list shows names only, without login", func(t *testing.T) {
		var out map[string][]map[string]any
		resp := request(t, "GET", srv.URL+"/api/departments/public", "", nil, &out)
		if resp.StatusCode != 200 || len(out["departments"]) != 1 || out["departments"][0]["name"] != "Returns" ||
			out["departments"][0]["members"] != nil {
			t.Fatalf("public departments: HTTP %d %v", resp.StatusCode, out)
		}
		if resp := request(t, "POST", srv.URL+"/api/departments", aTok, map[string]any{"name": "X"}, nil); resp.StatusCode != 403 {
			t.Errorf("agent creating a department: HTTP %d, want 403", resp.StatusCode)
		}
		if resp := request(t, "POST", srv.URL+"/api/departments", admin, map[string]any{"name": "Y", "strategy": "random"}, nil); resp.StatusCode != 400 {
			t.Errorf("bad strategy: HTTP %d, want 400", resp.StatusCode)
		}
	})

	ana := connectAgent(t, srv, aTok)
	bo := connectAgent(t, srv, bTok)
	shop := newShopper(t, srv, "")
	conv := shop.sayIn(returns, "c-1", "I want to return my shoes").ConversationID
	got := bo.waitConversation(conv, models.StatusAssigned)
	if got.Conversation.DepartmentID != returns {
		t.Errorf("department %q, want %q", got.Conversation.DepartmentID, returns)
	}
	ana.quiet(300*time.Millisecond, func(f wire.ServerFrame) bool {
		return f.Type == wire.TypeConversation && f.Conversation != nil && f.Conversation.ID == conv && f.Conversation.Status == models.StatusAssigned
	})

	t.Run("assignment records for admins only", func(t *testing.T) {
		var out struct {
			Assignments []models.AssignmentRecord `json:"assignments"`
		}
		resp := request(t, "GET", srv.URL+"/api/conversations/"+conv+"/assignments", admin, nil, &out)
		if resp.StatusCode != 200 || len(out.Assignments) != 1 || out.Assignments[0].AgentID != b.ID {
			t.Fatalf("assignments: HTTP %d %+v", resp.StatusCode, out)
		}
		var why map[string]any
		if err := json.Unmarshal([]byte(out.Assignments[0].Reason), &why); err != nil || why["department"] != returns ||
			why["strategy"] != "least-busy" || why["not_members"] != float64(1) {
			t.Errorf("reason %s; want the department, the strategy and one non-member left out", out.Assignments[0].Reason)
		}
		if resp := request(t, "GET", srv.URL+"/api/conversations/"+conv+"/assignments", bTok, nil, nil); resp.StatusCode != 403 {
			t.Errorf("agent reading records: HTTP %d, want 403", resp.StatusCode)
		}
	})

	t.Run("transfer with a note only agents see", func(t *testing.T) {
		note := "Wants a refund, not an exchange"
		resp := request(t, "POST", srv.URL+"/api/conversations/"+conv+"/transfer", aTok, map[string]any{"agent_id": a.ID, "note": note}, nil)
		if resp.StatusCode != 404 {
			t.Errorf("transfer by an agent who may not even read it: HTTP %d, want 404", resp.StatusCode)
		}
		offline := srv.CreateAgent(t, "cy@shop.test", "Cy", models.RoleAgent, testPassword)
		bo.send(wire.ClientFrame{Type: "transfer", ConversationID: conv, AgentID: offline.ID, Note: note})
		bo.waitError(models.ECONFLICT, "transfer")
		bo.send(wire.ClientFrame{Type: "transfer", ConversationID: conv, AgentID: a.ID, Note: note})
		tf := ana.nextType("transfer")
		if tf.ConversationID != conv || tf.Conversation == nil || tf.Conversation.AgentID != a.ID {
			t.Errorf("transfer frame %+v", tf)
		}
		bo.waitConversation(conv, models.StatusAssigned) // Bo learns it is Ana's now
		sys := shop.waitMessage("You have been transferred to Ana.")
		if sys.Message.SenderKind != models.SenderSystem {
			t.Errorf("shopper's notice %+v, want a system message", sys.Message)
		}
		var out struct {
			Transfers []models.TransferRecord `json:"transfers"`
		}
		request(t, "GET", srv.URL+"/api/conversations/"+conv+"/transfers", aTok, nil, &out)
		if len(out.Transfers) != 1 || out.Transfers[0].Note != note || out.Transfers[0].FromAgentID != b.ID {
			t.Errorf("transfers %+v; want one from Bo with the note", out.Transfers)
		}
		msgs, err := srv.Store.Messages(t.Context(), conv, 0, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if strings.Contains(m.Body, "refund") && m.SenderKind == models.SenderSystem {
				t.Errorf("the note reached the conversation: %q", m.Body)
			}
		}
		ana.send(wire.ClientFrame{Type: wire.TypeSend, ConversationID: conv, ClientID: "a-1", Body: "Refund on its way"})
		shop.waitMessage("Refund on its way")
	})

	t.Run("admin raises a priority", func(t *testing.T) {
		var out struct {
			Conversation wire.ConversationView `json:"conversation"`
		}
		resp := request(t, "POST", srv.URL+"/api/conversations/"+conv+"/priority", admin, map[string]any{"priority": "high"}, &out)
		if resp.StatusCode != 200 || out.Conversation.Priority != models.PriorityHigh {
			t.Errorf("priority: HTTP %d %+v", resp.StatusCode, out.Conversation)
		}
		if resp := request(t, "POST", srv.URL+"/api/conversations/"+conv+"/priority", aTok, map[string]any{"priority": "high"}, nil); resp.StatusCode != 403 {
			t.Errorf("agent raising a priority: HTTP %d, want 403", resp.StatusCode)
		}
	})
}

func TestManualDepartmentAndUnavailable(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	admin := login(t, srv, apptest.AdminEmail, apptest.AdminPassword).AccessToken
	a := srv.CreateAgent(t, "ana@shop.test", "Ana", models.RoleAgent, testPassword)
	b := srv.CreateAgent(t, "bo@shop.test", "Bo", models.RoleAgent, testPassword)
	manual := mustDepartment(t, srv, admin, "VIP", "manual", a.ID)
	nobody := mustDepartment(t, srv, admin, "Night shift", "least-busy", b.ID)
	ana := connectAgent(t, srv, login(t, srv, "ana@shop.test", testPassword).AccessToken)

	shop := newShopper(t, srv, "")
	conv := shop.sayIn(manual, "c-1", "Hello VIP desk").ConversationID
	ana.next("queue with the conversation", func(f wire.ServerFrame) bool {
		return f.Type == wire.TypeQueue && len(f.Queue) == 1 && f.Queue[0].ID == conv
	})
	if c, _ := srv.Store.Conversation(t.Context(), conv); c.Status != models.StatusQueued {
		t.Fatalf("manual department conversation is %s; want queued until taken", c.Status)
	}
	ana.send(wire.ClientFrame{Type: "take", ConversationID: conv})
	ana.waitConversation(conv, models.StatusAssigned)
	shop.waitConversation(conv, models.StatusAssigned)
	ana.send(wire.ClientFrame{Type: "take", ConversationID: conv})
	ana.waitError(models.ECONFLICT, "take")

	late := newShopper(t, srv, "")
	lc := late.sayIn(nobody, "c-1", "Anyone there?").ConversationID
	u := late.nextType("unavailable")
	if u.ConversationID != lc {
		t.Errorf("unavailable frame %+v", u)
	}
	if c, _ := srv.Store.Conversation(t.Context(), lc); c.Status != models.StatusQueued {
		t.Errorf("conversation with nobody available is %s; want queued", c.Status)
	}
	// Bo comes online: the waiting conversation is his.
	bo := connectAgent(t, srv, login(t, srv, "bo@shop.test", testPassword).AccessToken)
	bo.waitConversation(lc, models.StatusAssigned)
}

func TestGracePeriodAndUnansweredHandOff(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{Config: func(c *config.Config) {
		c.GracePeriod = 300 * time.Millisecond
		c.UnansweredAfter = 2 * time.Second
	}})
	admin := login(t, srv, apptest.AdminEmail, apptest.AdminPassword)
	srv.CreateAgent(t, "ana@shop.test", "Ana", models.RoleAgent, testPassword)
	srv.CreateAgent(t, "bo@shop.test", "Bo", models.RoleAgent, testPassword)
	ana := connectAgent(t, srv, login(t, srv, "ana@shop.test", testPassword).AccessToken)
	shop := newShopper(t, srv, "")
	conv := shop.say("c-1", "Hello").ConversationID
	ana.waitConversation(conv, models.StatusAssigned)

	// Ana's connection drops; after the grace period the conversation goes
	// back to the queue, and Bo, online now, gets it.
	ana.conn.Close()
	bo := connectAgent(t, srv, login(t, srv, "bo@shop.test", testPassword).AccessToken)
	bo.waitConversation(conv, models.StatusAssigned)
	shop.waitConversation(conv, models.StatusQueued)

	// Bo does not answer; Ana is back: the conversation is offered to her.
	ana = connectAgent(t, srv, login(t, srv, "ana@shop.test", testPassword).AccessToken)
	ana.waitConversation(conv, models.StatusAssigned)
	var out struct {
		Assignments []models.AssignmentRecord `json:"assignments"`
	}
	request(t, "GET", srv.URL+"/api/conversations/"+conv+"/assignments", admin.AccessToken, nil, &out)
	if n := len(out.Assignments); n < 3 {
		t.Errorf("%d assignment records; want at least Ana, Bo, Ana", n)
	}
}

func TestPositionAndEstimatedWait(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	a := srv.CreateAgent(t, "ana@shop.test", "Ana", models.RoleAgent, testPassword)
	one := 1
	if _, err := srv.Store.UpdateAgent(t.Context(), a.ID, models.AgentUpdate{MaxChats: &one}); err != nil {
		t.Fatal(err)
	}
	ana := connectAgent(t, srv, login(t, srv, "ana@shop.test", testPassword).AccessToken)
	first := newShopper(t, srv, "")
	c1 := first.say("c-1", "one").ConversationID
	ana.waitConversation(c1, models.StatusAssigned)

	// Ana is full and nothing was ever resolved: a place, no estimate.
	second := newShopper(t, srv, "")
	c2 := second.say("c-1", "two").ConversationID
	p := second.next("position", func(f wire.ServerFrame) bool { return f.Type == wire.TypePosition && f.ConversationID == c2 })
	if p.Position != 1 || p.EstimatedWaitSeconds != nil {
		t.Errorf("position frame %+v; want 1 without an estimate", p)
	}
	// One conversation handled: now the wait can be estimated.
	ana.send(wire.ClientFrame{Type: wire.TypeResolve, ConversationID: c1})
	ana.waitConversation(c2, models.StatusAssigned)
	third := newShopper(t, srv, "")
	c3 := third.say("c-1", "three").ConversationID
	p = third.next("position", func(f wire.ServerFrame) bool { return f.Type == wire.TypePosition && f.ConversationID == c3 })
	if p.Position != 1 || p.EstimatedWaitSeconds == nil || *p.EstimatedWaitSeconds < 1 {
		t.Errorf("position frame %+v; want 1 with an estimate of at least a second", p)
	}
}

func TestUnavailableAsksForEmail(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{Config: func(c *config.Config) {
		// Nothing is mailed in this test (the shopper stays connected);
		// the setting only makes the widget ask for an address.
		c.SMTPURL = "smtp://127.0.0.1:2525?from=help@shop.test"
	}})
	shop := newShopper(t, srv, "")
	conv := shop.say("c-1", "Hello?").ConversationID
	u := shop.nextType("unavailable")
	if u.ConversationID != conv {
		t.Fatalf("unavailable frame %+v", u)
	}
	shop.send(map[string]string{"type": "email", "email": "not an address"})
	shop.waitError(models.EINVALID, "email")
	shop.send(map[string]string{"type": "email", "email": "ann@example.test"})
	if f := shop.nextType("email_saved"); f.Status != "ann@example.test" {
		t.Errorf("email_saved %+v", f)
	}
	v, err := srv.Store.Visitor(t.Context(), shop.visitorID)
	if err != nil || v.Email != "ann@example.test" {
		t.Errorf("visitor e-mail %q, %v; want stored", v.Email, err)
	}
}

// TestPublicDepartmentsCORS: the widget's picker reads the public list
// from the shop's page: allowed shop origins get the CORS header, others
// do not.
func TestPublicDepartmentsCORS(t *testing.T) {
	const shop = "https://teapots.example"
	srv := apptest.Start(t, apptest.Options{AllowedOrigins: []string{shop}})
	admin := login(t, srv, apptest.AdminEmail, apptest.AdminPassword).AccessToken
	mustDepartment(t, srv, admin, "Sales", "least-busy")
	for _, tc := range []struct{ origin, want string }{
		{shop, shop},
		{"https://evil.example", ""},
	} {
		var out struct {
			Departments []struct{ ID, Name string } `json:"departments"`
		}
		resp := request(t, "GET", srv.URL+"/api/departments/public", "", nil, &out, func(r *http.Request) { r.Header.Set("Origin", tc.origin) })
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.want || resp.StatusCode != 200 || len(out.Departments) != 1 {
			t.Errorf("from %s: HTTP %d, Allow-Origin %q, %d departments; want 200, %q, 1", tc.origin, resp.StatusCode, got, len(out.Departments), tc.want)
		}
	}
}
