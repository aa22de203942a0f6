package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
)

// routingTests are the RoutingStore contract's subtests; Run runs them with
// the others.
var routingTests = []struct {
	name string
	fn   func(t *testing.T, s models.Store)
}{
	{"Departments", testDepartments},
	{"DeleteDepartment", testDeleteDepartment},
	{"TransferToAgent", testTransferToAgent},
	{"TransferToDepartment", testTransferToDepartment},
	{"TransferErrors", testTransferErrors},
	{"TransferRace", testTransferRace},
	{"SetPriority", testSetPriority},
	{"VisitorIndexes", testVisitorIndexes},
}

// MustCreateDepartment stores d and returns it as stored.
func MustCreateDepartment(tb testing.TB, s models.Store, d models.Department) *models.Department {
	tb.Helper()
	if d.Name == "" {
		d.Name = "Dept " + RandomHex(4)
	}
	if err := s.CreateDepartment(context.Background(), &d); err != nil {
		tb.Fatalf("CreateDepartment(%s): %v", d.Name, err)
	}
	got, err := s.Department(context.Background(), d.ID)
	if err != nil {
		tb.Fatalf("Department(%s): %v", d.ID, err)
	}
	return got
}

// MustOpenConversationIn is MustOpenConversation for a department.
func MustOpenConversationIn(tb testing.TB, s models.Store, deptID string, now time.Time) *models.Conversation {
	tb.Helper()
	v := MustCreateVisitor(tb, s, models.Visitor{})
	res, err := s.SendVisitorMessage(context.Background(), models.VisitorMessage{
		VisitorID: v.ID, ClientID: "c-" + RandomHex(8), Body: "hello", DepartmentID: &deptID, Now: now})
	if err != nil {
		tb.Fatalf("SendVisitorMessage: %v", err)
	}
	return res.Conversation
}

func testDepartments(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateAgent(t, s, models.Agent{})
	b := MustCreateAgent(t, s, models.Agent{})
	t.Run("invalid", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			d    models.Department
			want models.Code
		}{
			{"no name", models.Department{Name: "  "}, models.EINVALID},
			{"bad strategy", models.Department{Name: "X", Strategy: "random"}, models.EINVALID},
			{"negative fallback", models.Department{Name: "X", FallbackAfter: -time.Second}, models.EINVALID},
			{"unknown member", models.Department{Name: "X", Members: []string{"nobody"}}, models.EINVALID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantCode(t, "CreateDepartment", s.CreateDepartment(ctx, &tc.d), tc.want)
			})
		}
	})
	d := MustCreateDepartment(t, s, models.Department{Name: " Sales ", Members: []string{b.ID, a.ID, a.ID}, FallbackAfter: time.Minute})
	want := []string{a.ID, b.ID}
	slices.Sort(want)
	if d.Name != "Sales" || d.Strategy != models.StrategyLeastBusy || !slices.Equal(d.Members, want) || d.FallbackAfter != time.Minute {
		t.Errorf("created = %+v; want Sales, least-busy, members %v, fallback 1m", d, want)
	}
	wantCode(t, "same name, other case", s.CreateDepartment(ctx, &models.Department{Name: "sales"}), models.ECONFLICT)
	MustCreateDepartment(t, s, models.Department{Name: "Returns", Strategy: models.StrategyManual})
	all, err := s.Departments(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "Returns" || all[1].Name != "Sales" || len(all[1].Members) != 2 {
		t.Fatalf("Departments = %v, %v; want Returns, Sales (2 members)", all, err)
	}
	rr, none := models.StrategyRoundRobin, []string{b.ID}
	got, err := s.UpdateDepartment(ctx, d.ID, models.DepartmentUpdate{Strategy: &rr, Members: &none})
	if err != nil || got.Strategy != rr || !slices.Equal(got.Members, none) || got.Name != "Sales" {
		t.Errorf("UpdateDepartment = %+v, %v; want round-robin with %v", got, err, none)
	}
	bad, taken, empty := "random", "RETURNS", []string{"nobody"}
	_, err = s.UpdateDepartment(ctx, d.ID, models.DepartmentUpdate{Strategy: &bad})
	wantCode(t, "bad strategy", err, models.EINVALID)
	_, err = s.UpdateDepartment(ctx, d.ID, models.DepartmentUpdate{Name: &taken})
	wantCode(t, "taken name", err, models.ECONFLICT)
	_, err = s.UpdateDepartment(ctx, d.ID, models.DepartmentUpdate{Members: &empty})
	wantCode(t, "unknown member", err, models.EINVALID)
	_, err = s.UpdateDepartment(ctx, "no-such-id", models.DepartmentUpdate{Strategy: &rr})
	wantCode(t, "unknown department", err, models.ENOTFOUND)
	if got, _ := s.Department(ctx, d.ID); got == nil || !slices.Equal(got.Members, none) || got.Strategy != rr {
		t.Errorf("after refused updates = %+v; want unchanged", got)
	}
	_, err = s.Department(ctx, "no-such-id")
	wantCode(t, "Department(unknown)", err, models.ENOTFOUND)
}

func testDeleteDepartment(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateAgent(t, s, models.Agent{})
	d := MustCreateDepartment(t, s, models.Department{Members: []string{a.ID}})
	open := MustOpenConversationIn(t, s, d.ID, At(0))
	done := MustOpenConversationIn(t, s, d.ID, At(1))
	if _, err := s.ResolveConversation(ctx, done.ID, At(2)); err != nil {
		t.Fatal(err)
	}
	if open.DepartmentID == nil || *open.DepartmentID != d.ID {
		t.Fatalf("conversation department = %v, want %s", open.DepartmentID, d.ID)
	}
	if err := s.DeleteDepartment(ctx, d.ID); err != nil {
		t.Fatalf("DeleteDepartment: %v", err)
	}
	wantCode(t, "again", s.DeleteDepartment(ctx, d.ID), models.ENOTFOUND)
	if c := MustConversation(t, s, open.ID); c.DepartmentID != nil {
		t.Errorf("open conversation keeps department %v; want none", *c.DepartmentID)
	}
	if c := MustConversation(t, s, done.ID); c.DepartmentID == nil {
		t.Errorf("resolved conversation lost its department; history should keep it")
	}
	// The name is free again, and the old members are not carried over.
	nd := MustCreateDepartment(t, s, models.Department{Name: d.Name})
	if len(nd.Members) != 0 {
		t.Errorf("new department with the old name has members %v", nd.Members)
	}
}

func testTransferToAgent(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateAgent(t, s, models.Agent{})
	b := MustCreateAgent(t, s, models.Agent{})
	c := MustOpenConversation(t, s, At(0))
	MustAssign(t, s, c.ID, a.ID, 5, At(1))
	got, rec, err := s.TransferConversation(ctx, models.Transfer{ConversationID: c.ID, FromAgentID: a.ID,
		ToAgentID: b.ID, Capacity: 5, Note: "wants a refund", ByAgentID: a.ID, Now: At(2)})
	if err != nil {
		t.Fatalf("TransferConversation: %v", err)
	}
	if got.Status != models.StatusAssigned || got.AgentID == nil || *got.AgentID != b.ID || !got.QueuedAt.Equal(At(0)) || !got.AssignedAt.Equal(At(2)) {
		t.Errorf("transferred = %+v; want assigned to b at %v", got, At(2))
	}
	if rec.FromAgentID != a.ID || rec.ToAgentID != b.ID || rec.Note != "wants a refund" || rec.ByAgentID != a.ID {
		t.Errorf("record = %+v", rec)
	}
	if ga, gb := MustAgent(t, s, a.ID), MustAgent(t, s, b.ID); ga.OpenChats != 0 || gb.OpenChats != 1 || gb.LastAssignedAt == nil {
		t.Errorf("OpenChats a=%d b=%d; want 0 and 1 with LastAssignedAt", ga.OpenChats, gb.OpenChats)
	}
	recs, _ := s.Transfers(ctx, c.ID)
	if len(recs) != 1 || recs[0].Note != "wants a refund" {
		t.Errorf("Transfers = %+v; want the one with its note", recs)
	}
	as, _ := s.Assignments(ctx, c.ID)
	if len(as) != 2 || as[1].AgentID != b.ID || as[1].Strategy != "transfer" {
		t.Errorf("Assignments = %+v; want a second, strategy transfer, to b", as)
	}
	// Admin reassignment: no FromAgentID, conversation queued or assigned.
	q := MustOpenConversation(t, s, At(3))
	if got, _, err := s.TransferConversation(ctx, models.Transfer{ConversationID: q.ID, ToAgentID: a.ID, Capacity: 1, Now: At(4)}); err != nil || *got.AgentID != a.ID {
		t.Errorf("admin assigns a queued conversation: %v, %v", got, err)
	}
}

func testTransferToDepartment(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateAgent(t, s, models.Agent{})
	d := MustCreateDepartment(t, s, models.Department{})
	c := MustOpenConversation(t, s, At(0))
	MustAssign(t, s, c.ID, a.ID, 5, At(1))
	got, rec, err := s.TransferConversation(ctx, models.Transfer{ConversationID: c.ID, FromAgentID: a.ID,
		ToDepartmentID: d.ID, Note: "n", ByAgentID: a.ID, Now: At(2)})
	if err != nil {
		t.Fatalf("TransferConversation: %v", err)
	}
	if got.Status != models.StatusQueued || got.AgentID != nil || got.AssignedAt != nil || got.DepartmentID == nil ||
		*got.DepartmentID != d.ID || !got.QueuedAt.Equal(At(0)) {
		t.Errorf("transferred = %+v; want queued in %s keeping QueuedAt", got, d.ID)
	}
	if rec.FromAgentID != a.ID || rec.ToDepartmentID != d.ID {
		t.Errorf("record = %+v", rec)
	}
	if ga := MustAgent(t, s, a.ID); ga.OpenChats != 0 {
		t.Errorf("OpenChats = %d, want 0", ga.OpenChats)
	}
	if q, _ := s.Queue(ctx); len(q) != 1 || q[0].ID != c.ID {
		t.Errorf("queue = %v; want the transferred conversation", convIDs(q))
	}
}

func testTransferErrors(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateAgent(t, s, models.Agent{})
	b := MustCreateAgent(t, s, models.Agent{})
	off := MustCreateAgent(t, s, models.Agent{Disabled: true})
	full := MustCreateAgent(t, s, models.Agent{})
	MustAssign(t, s, MustOpenConversation(t, s, At(0)).ID, full.ID, 1, At(0))
	c := MustOpenConversation(t, s, At(1))
	MustAssign(t, s, c.ID, a.ID, 5, At(2))
	resolved := MustOpenConversation(t, s, At(1))
	if _, err := s.ResolveConversation(ctx, resolved.ID, At(2)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tr   models.Transfer
		want models.Code
	}{
		{"no target", models.Transfer{ConversationID: c.ID}, models.EINVALID},
		{"long note", models.Transfer{ConversationID: c.ID, ToAgentID: b.ID, Capacity: 5, Note: string(make([]byte, models.MaxTransferNote+1))}, models.EINVALID},
		{"unknown conversation", models.Transfer{ConversationID: "no-such-id", ToAgentID: b.ID, Capacity: 5}, models.ENOTFOUND},
		{"unknown agent", models.Transfer{ConversationID: c.ID, ToAgentID: "no-such-id", Capacity: 5}, models.ENOTFOUND},
		{"unknown department", models.Transfer{ConversationID: c.ID, ToDepartmentID: "no-such-id"}, models.ENOTFOUND},
		{"not yours", models.Transfer{ConversationID: c.ID, FromAgentID: b.ID, ToAgentID: b.ID, Capacity: 5}, models.ECONFLICT},
		{"already theirs", models.Transfer{ConversationID: c.ID, ToAgentID: a.ID, Capacity: 5}, models.ECONFLICT},
		{"resolved", models.Transfer{ConversationID: resolved.ID, ToAgentID: b.ID, Capacity: 5}, models.ECONFLICT},
		{"disabled", models.Transfer{ConversationID: c.ID, ToAgentID: off.ID, Capacity: 5}, models.EFORBIDDEN},
		{"full", models.Transfer{ConversationID: c.ID, FromAgentID: a.ID, ToAgentID: full.ID, Capacity: 1}, models.ECAPACITY},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.TransferConversation(ctx, tc.tr)
			wantCode(t, "TransferConversation", err, tc.want)
		})
	}
	// Nothing changed.
	if got := MustConversation(t, s, c.ID); *got.AgentID != a.ID {
		t.Errorf("conversation moved to %s after refused transfers", *got.AgentID)
	}
	if ga, gf := MustAgent(t, s, a.ID), MustAgent(t, s, full.ID); ga.OpenChats != 1 || gf.OpenChats != 1 {
		t.Errorf("OpenChats a=%d full=%d; want 1 and 1", ga.OpenChats, gf.OpenChats)
	}
	if recs, _ := s.Transfers(ctx, c.ID); len(recs) != 0 {
		t.Errorf("refused transfers left %d records", len(recs))
	}
}

// testTransferRace: many transfers of one conversation to agents with room
// for one more: the caps hold and the conversation ends with one agent.
func testTransferRace(t *testing.T, s models.Store) {
	ctx := t.Context()
	from := MustCreateAgent(t, s, models.Agent{})
	c := MustOpenConversation(t, s, At(0))
	MustAssign(t, s, c.ID, from.ID, 5, At(1))
	const n = 8
	targets := make([]*models.Agent, n)
	for i := range targets {
		targets[i] = MustCreateAgent(t, s, models.Agent{})
	}
	var wg sync.WaitGroup
	wins := make([]bool, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := s.TransferConversation(ctx, models.Transfer{ConversationID: c.ID, FromAgentID: from.ID,
				ToAgentID: targets[i].ID, Capacity: 1, Now: At(2)})
			wins[i] = err == nil
			if code := models.ErrorCode(err); code != "" && code != models.ECONFLICT {
				t.Errorf("transfer %d: %v; want success or conflict", i, err)
			}
		}()
	}
	wg.Wait()
	won, total := 0, 0
	for i, w := range wins {
		open := MustAgent(t, s, targets[i].ID).OpenChats
		total += open
		if w {
			won++
		}
		if (open == 1) != w {
			t.Errorf("target %d: won %v but holds %d", i, w, open)
		}
	}
	if won != 1 || total != 1 || MustAgent(t, s, from.ID).OpenChats != 0 {
		t.Errorf("%d transfers won, %d chats held; want exactly 1 and the sender at 0", won, total)
	}
}

func testSetPriority(t *testing.T, s models.Store) {
	ctx := t.Context()
	first := MustOpenConversation(t, s, At(0))
	second := MustOpenConversation(t, s, At(1))
	got, err := s.SetPriority(ctx, second.ID, models.PriorityHigh, At(2))
	if err != nil || got.Priority != models.PriorityHigh || !got.QueuedAt.Equal(At(1)) {
		t.Fatalf("SetPriority = %+v, %v; want high, QueuedAt kept", got, err)
	}
	if q, _ := s.Queue(ctx); !slices.Equal(convIDs(q), []string{second.ID, first.ID}) {
		t.Errorf("queue = %v; want the high one first", convIDs(q))
	}
	_, err = s.SetPriority(ctx, first.ID, 7, At(3))
	wantCode(t, "bad priority", err, models.EINVALID)
	_, err = s.SetPriority(ctx, "no-such-id", models.PriorityHigh, At(3))
	wantCode(t, "unknown", err, models.ENOTFOUND)
	if _, err := s.ResolveConversation(ctx, first.ID, At(3)); err != nil {
		t.Fatal(err)
	}
	_, err = s.SetPriority(ctx, first.ID, models.PriorityHigh, At(4))
	wantCode(t, "resolved", err, models.ECONFLICT)
}

// testVisitorIndexes: lookups by token and by open conversation stay right
// across resolves (memstore keeps indexes for them).
func testVisitorIndexes(t *testing.T, s models.Store) {
	ctx := t.Context()
	v := MustCreateVisitor(t, s, models.Visitor{TokenHash: RandomHex(32)})
	wantCode(t, "same token", s.CreateVisitor(ctx, &models.Visitor{TokenHash: v.TokenHash}), models.ECONFLICT)
	got, err := s.VisitorByTokenHash(ctx, v.TokenHash)
	if err != nil || got.ID != v.ID {
		t.Fatalf("VisitorByTokenHash = %v, %v", got, err)
	}
	_, err = s.VisitorByTokenHash(ctx, "")
	wantCode(t, "empty hash", err, models.ENOTFOUND)
	one := MustSendVisitorMessage(t, s, v.ID, "a", At(0))
	if _, err := s.ResolveConversation(ctx, one.Conversation.ID, At(1)); err != nil {
		t.Fatal(err)
	}
	_, err = s.OpenConversationOf(ctx, v.ID)
	wantCode(t, "after resolve", err, models.ENOTFOUND)
	two := MustSendVisitorMessage(t, s, v.ID, "b", At(2))
	if !two.Opened || two.Conversation.ID == one.Conversation.ID {
		t.Fatalf("message after resolve did not open a new conversation")
	}
	if three := MustSendVisitorMessage(t, s, v.ID, "c", At(3)); three.Opened || three.Conversation.ID != two.Conversation.ID {
		t.Errorf("third message opened %v in %s; want appended to %s", three.Opened, three.Conversation.ID, two.Conversation.ID)
	}
	if c, err := s.OpenConversationOf(ctx, v.ID); err != nil || c.ID != two.Conversation.ID {
		t.Errorf("OpenConversationOf = %v, %v", c, err)
	}
}

func convIDs(cs []*models.Conversation) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}
