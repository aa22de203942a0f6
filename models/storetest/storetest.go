package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
)

// Run checks that the stores open returns honour the models.Store contract.
// Every subtest gets a fresh, empty store from open, which is responsible
// for closing it (t.Cleanup). Subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) models.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s models.Store)
	}{
		{"Ping", testPing},
		{"CreateAgent", testCreateAgent},
		{"AgentLookups", testAgentLookups},
		{"UpdateAgent", testUpdateAgent},
		{"RefreshTokenRotation", testRefreshRotation},
		{"RefreshTokenReuseRevokesFamily", testRefreshReuse},
		{"RefreshTokenRejected", testRefreshRejected},
		{"RefreshTokenRevokeFamily", testRefreshRevokeFamily},
		{"RefreshTokenConcurrentRotation", testRefreshConcurrent},
		{"Visitors", testVisitors},
		{"SendVisitorMessage", testSendVisitorMessage},
		{"SendVisitorMessageInvalid", testSendVisitorMessageInvalid},
		{"SendVisitorMessageHint", testSendVisitorMessageHint},
		{"VisitorConcurrentFirstMessages", testVisitorConcurrentFirst},
		{"IdempotentVisitorConcurrent", testIdempotentVisitor},
		{"IdempotentAgentConcurrent", testIdempotentAgent},
		{"DuplicateAfterResolve", testDuplicateAfterResolve},
		{"SeqGapFreeConcurrent", testSeqConcurrent},
		{"AppendMessageErrors", testAppendErrors},
		{"SystemMessages", testSystemMessages},
		{"MessagesPaging", testMessagesPaging},
		{"ConversationLookups", testConversationLookups},
		{"QueueOrder", testQueueOrder},
		{"AssignConversation", testAssign},
		{"AssignConversationErrors", testAssignErrors},
		{"AssignConversationRace", testAssignRace},
		{"RequeueConversation", testRequeue},
		{"ResolveConversation", testResolve},
		{"ReturnsCopies", testCopies},
		{"SendAttachment", testSendAttachment},
		{"SendAttachmentErrors", testSendAttachmentErrors},
		{"SendAttachmentConcurrent", testSendAttachmentConcurrent},
		{"MarkRead", testMarkRead},
		{"MarkReadConcurrent", testMarkReadConcurrent},
		{"AnnouncementCreate", testAnnouncementCreate},
		{"AnnouncementIdempotency", testAnnouncementIdempotency},
		{"AnnouncementLifecycle", testAnnouncementLifecycle},
		{"AnnouncementCounts", testAnnouncementCounts},
	}
	tests = append(tests, routingTests...)
	tests = append(tests, presenceTests...)
	tests = append(tests, visitorPresenceTests...)
	tests = append(tests, hoursTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

func testPing(t *testing.T, s models.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testCreateAgent(t *testing.T, s models.Store) {
	ctx := t.Context()
	t.Run("invalid", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			a    models.Agent
		}{
			{"no email", models.Agent{Name: "A", Role: models.RoleAgent, PasswordHash: "h"}},
			{"bad email", models.Agent{Email: "nobody", Name: "A", Role: models.RoleAgent, PasswordHash: "h"}},
			{"no name", models.Agent{Email: "a@example.com", Role: models.RoleAgent, PasswordHash: "h"}},
			{"blank name", models.Agent{Email: "a@example.com", Name: "  ", Role: models.RoleAgent, PasswordHash: "h"}},
			{"no role", models.Agent{Email: "a@example.com", Name: "A", PasswordHash: "h"}},
			{"bad role", models.Agent{Email: "a@example.com", Name: "A", Role: "boss", PasswordHash: "h"}},
			{"negative max chats", models.Agent{Email: "a@example.com", Name: "A", Role: models.RoleAgent, PasswordHash: "h", MaxChats: -1}},
		} {
			a := tc.a
			wantCode(t, tc.name, s.CreateAgent(ctx, &a), models.EINVALID)
		}
		if as, err := s.Agents(ctx); err != nil || len(as) != 0 {
			t.Errorf("after invalid creates: Agents = %d agents, %v; want none", len(as), err)
		}
	})
	t.Run("valid", func(t *testing.T) {
		a := models.Agent{Email: "  Ann@Example.COM ", Name: "Ann", Role: models.RoleAdmin, PasswordHash: "h", MaxChats: 4}
		if err := s.CreateAgent(ctx, &a); err != nil {
			t.Fatalf("CreateAgent: %v", err)
		}
		if a.ID == "" {
			t.Fatal("CreateAgent did not assign an ID")
		}
		got := MustAgent(t, s, a.ID)
		if got.Email != "ann@example.com" {
			t.Errorf("Email = %q, want normalized %q", got.Email, "ann@example.com")
		}
		if got.Name != "Ann" || got.Role != models.RoleAdmin || got.MaxChats != 4 || got.PasswordHash != "h" {
			t.Errorf("stored agent = %+v, fields differ from what was created", got)
		}
		if got.OpenChats != 0 || got.Disabled || got.TokenVersion < 1 {
			t.Errorf("new agent: OpenChats=%d Disabled=%v TokenVersion=%d; want 0, false, >=1", got.OpenChats, got.Disabled, got.TokenVersion)
		}
		if got.CreatedAt.IsZero() {
			t.Error("CreatedAt not set")
		}
		dup := models.Agent{Email: "ANN@example.com", Name: "Other", Role: models.RoleAgent, PasswordHash: "h"}
		wantCode(t, "duplicate e-mail, other case", s.CreateAgent(ctx, &dup), models.ECONFLICT)
		if as, _ := s.Agents(ctx); len(as) != 1 {
			t.Errorf("after duplicate: %d agents, want 1", len(as))
		}
	})
}

func testAgentLookups(t *testing.T, s models.Store) {
	ctx := t.Context()
	c := MustCreateAgent(t, s, models.Agent{Email: "carol@example.com"})
	a := MustCreateAgent(t, s, models.Agent{Email: "alice@example.com", Role: models.RoleAdmin})
	b := MustCreateAgent(t, s, models.Agent{Email: "bob@example.com", Role: models.RoleAdmin})
	d := MustCreateAgent(t, s, models.Agent{Email: "dave@example.com", Role: models.RoleAdmin})
	yes := true
	if _, err := s.UpdateAgent(ctx, d.ID, models.AgentUpdate{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}

	if got, err := s.AgentByEmail(ctx, " ALICE@example.com"); err != nil || got.ID != a.ID {
		t.Errorf("AgentByEmail(upper case) = %v, %v; want %s", got, err, a.ID)
	}
	_, err := s.AgentByEmail(ctx, "nobody@example.com")
	wantCode(t, "AgentByEmail(unknown)", err, models.ENOTFOUND)
	_, err = s.Agent(ctx, "no-such-id")
	wantCode(t, "Agent(unknown)", err, models.ENOTFOUND)

	as, err := s.Agents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var emails []string
	for _, x := range as {
		emails = append(emails, x.Email)
	}
	want := []string{"alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"}
	if !slices.Equal(emails, want) {
		t.Errorf("Agents() e-mails = %v, want %v (ordered, disabled included)", emails, want)
	}

	m, err := s.AgentsByID(ctx, []string{a.ID, c.ID, "no-such-id"})
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m[a.ID] == nil || m[c.ID] == nil || m[a.ID].Email != a.Email {
		t.Errorf("AgentsByID = %v, want alice and carol only", m)
	}
	if m, err := s.AgentsByID(ctx, nil); err != nil || len(m) != 0 {
		t.Errorf("AgentsByID(nil) = %v, %v; want empty", m, err)
	}

	if n, err := s.CountAdmins(ctx); err != nil || n != 2 {
		t.Errorf("CountAdmins = %d, %v; want 2 (a disabled admin does not count)", n, err)
	}
	_ = b
}

func testUpdateAgent(t *testing.T, s models.Store) {
	ctx := t.Context()
	str := func(v string) *string { return &v }
	boolp := func(v bool) *bool { return &v }
	intp := func(v int) *int { return &v }
	role := func(r models.Role) *models.Role { return &r }
	for _, tc := range []struct {
		name     string
		u        models.AgentUpdate
		bump     bool
		check    func(a *models.Agent) bool
		wantCode models.Code
	}{
		{"name", models.AgentUpdate{Name: str("New Name")}, false, func(a *models.Agent) bool { return a.Name == "New Name" }, ""},
		{"role", models.AgentUpdate{Role: role(models.RoleAdmin)}, false, func(a *models.Agent) bool { return a.Role == models.RoleAdmin }, ""},
		{"max chats", models.AgentUpdate{MaxChats: intp(7)}, false, func(a *models.Agent) bool { return a.MaxChats == 7 }, ""},
		{"must change password", models.AgentUpdate{MustChangePassword: boolp(true)}, false, func(a *models.Agent) bool { return a.MustChangePassword }, ""},
		{"password", models.AgentUpdate{PasswordHash: str("new-hash")}, true, func(a *models.Agent) bool { return a.PasswordHash == "new-hash" }, ""},
		{"disable", models.AgentUpdate{Disabled: boolp(true)}, true, func(a *models.Agent) bool { return a.Disabled }, ""},
		{"enable", models.AgentUpdate{Disabled: boolp(false)}, false, func(a *models.Agent) bool { return !a.Disabled }, ""},
		{"revoke tokens", models.AgentUpdate{RevokeTokens: true}, true, func(a *models.Agent) bool { return true }, ""},
		{"bad role", models.AgentUpdate{Role: role("boss")}, false, nil, models.EINVALID},
		{"negative max chats", models.AgentUpdate{MaxChats: intp(-1)}, false, nil, models.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := MustCreateAgent(t, s, models.Agent{Name: "Old Name"})
			got, err := s.UpdateAgent(ctx, a.ID, tc.u)
			after := MustAgent(t, s, a.ID)
			if tc.wantCode != "" {
				wantCode(t, "UpdateAgent", err, tc.wantCode)
				if after.TokenVersion != a.TokenVersion || after.Role != a.Role || after.MaxChats != a.MaxChats {
					t.Errorf("a refused update changed the agent: %+v → %+v", a, after)
				}
				return
			}
			if err != nil {
				t.Fatalf("UpdateAgent: %v", err)
			}
			if !tc.check(got) || !tc.check(after) {
				t.Errorf("update not applied: returned %+v, stored %+v", got, after)
			}
			want := a.TokenVersion
			if tc.bump {
				want++
			}
			if after.TokenVersion != want || got.TokenVersion != want {
				t.Errorf("TokenVersion = %d (returned %d), want %d", after.TokenVersion, got.TokenVersion, want)
			}
			if tc.name != "name" && after.Name != "Old Name" {
				t.Errorf("Name changed to %q by an update that did not set it", after.Name)
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		_, err := s.UpdateAgent(ctx, "no-such-id", models.AgentUpdate{RevokeTokens: true})
		wantCode(t, "UpdateAgent(unknown)", err, models.ENOTFOUND)
	})
	t.Run("keeps open chats", func(t *testing.T) {
		a := MustCreateAgent(t, s, models.Agent{})
		c := MustOpenConversation(t, s, At(0))
		MustAssign(t, s, c.ID, a.ID, 5, At(1))
		if _, err := s.UpdateAgent(ctx, a.ID, models.AgentUpdate{Name: str("Renamed"), MaxChats: intp(9)}); err != nil {
			t.Fatal(err)
		}
		if got := MustAgent(t, s, a.ID).OpenChats; got != 1 {
			t.Errorf("OpenChats after UpdateAgent = %d, want 1", got)
		}
	})
}

func newToken(agentID string, expires time.Time) (*models.RefreshToken, string) {
	h := RandomHex(32)
	return &models.RefreshToken{AgentID: agentID, TokenHash: h, TokenVersion: 1, ExpiresAt: expires}, h
}

func testRefreshRotation(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateAgent(t, s, models.Agent{})
	first, h1 := newToken(a.ID, At(3600_000))
	if err := s.CreateRefreshToken(ctx, first); err != nil {
		t.Fatalf("CreateRefreshToken: %v", err)
	}
	if first.ID == "" || first.FamilyID == "" {
		t.Fatalf("CreateRefreshToken left ID %q, FamilyID %q empty", first.ID, first.FamilyID)
	}
	second, h2 := newToken(a.ID, At(7200_000))
	used, err := s.RotateRefreshToken(ctx, h1, second, At(1000))
	if err != nil {
		t.Fatalf("RotateRefreshToken: %v", err)
	}
	if used.ID != first.ID || used.TokenHash != h1 || used.AgentID != a.ID || used.UsedAt == nil {
		t.Errorf("rotation returned %+v, want the consumed first token with UsedAt set", used)
	}
	third, h3 := newToken(a.ID, At(9000_000))
	used, err = s.RotateRefreshToken(ctx, h2, third, At(2000))
	if err != nil {
		t.Fatalf("second rotation: %v", err)
	}
	if used.TokenHash != h2 || used.FamilyID != first.FamilyID {
		t.Errorf("second rotation consumed %+v, want the token with hash h2 in family %s", used, first.FamilyID)
	}
	if third.FamilyID != "" && third.FamilyID != first.FamilyID {
		t.Errorf("next token's family = %q, want %q", third.FamilyID, first.FamilyID)
	}
	// The newest token works (and proves the family was carried along).
	// Its agent and token version are left zero: they must be inherited.
	fourth := &models.RefreshToken{TokenHash: RandomHex(32), ExpiresAt: At(9000_000)}
	used, err = s.RotateRefreshToken(ctx, h3, fourth, At(3000))
	if err != nil {
		t.Fatalf("third rotation: %v", err)
	}
	if fourth.AgentID != a.ID || fourth.TokenVersion != used.TokenVersion || fourth.TokenVersion == 0 {
		t.Errorf("next token has agent %q version %d, want them copied from the consumed token (%q, %d)",
			fourth.AgentID, fourth.TokenVersion, a.ID, used.TokenVersion)
	}
	if used.FamilyID != first.FamilyID {
		t.Errorf("third token family = %q, want %q", used.FamilyID, first.FamilyID)
	}
}

func testRefreshReuse(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateAgent(t, s, models.Agent{})
	first, h1 := newToken(a.ID, At(3600_000))
	if err := s.CreateRefreshToken(ctx, first); err != nil {
		t.Fatal(err)
	}
	// An unrelated family that must survive.
	other, hOther := newToken(a.ID, At(3600_000))
	if err := s.CreateRefreshToken(ctx, other); err != nil {
		t.Fatal(err)
	}
	second, h2 := newToken(a.ID, At(3600_000))
	if _, err := s.RotateRefreshToken(ctx, h1, second, At(1000)); err != nil {
		t.Fatal(err)
	}
	replay, _ := newToken(a.ID, At(3600_000))
	_, err := s.RotateRefreshToken(ctx, h1, replay, At(2000))
	wantCode(t, "rotating a used token", err, models.EUNAUTHORIZED)
	third, _ := newToken(a.ID, At(3600_000))
	_, err = s.RotateRefreshToken(ctx, h2, third, At(3000))
	wantCode(t, "rotating the newest token after its family was revoked", err, models.EUNAUTHORIZED)
	next, _ := newToken(a.ID, At(3600_000))
	if _, err := s.RotateRefreshToken(ctx, hOther, next, At(3000)); err != nil {
		t.Errorf("another family was revoked too: %v", err)
	}
}

func testRefreshRejected(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateAgent(t, s, models.Agent{})
	tok, h := newToken(a.ID, At(1000))
	if err := s.CreateRefreshToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		hash string
		now  time.Time
	}{
		{"unknown", RandomHex(32), At(0)},
		{"empty", "", At(0)},
		{"expired exactly", h, At(1000)},
		{"expired", h, At(5000)},
	} {
		next, _ := newToken(a.ID, At(9000))
		_, err := s.RotateRefreshToken(ctx, tc.hash, next, tc.now)
		wantCode(t, tc.name, err, models.EUNAUTHORIZED)
	}
	// The expired attempts did not consume or revoke it: before expiry it works.
	next, _ := newToken(a.ID, At(9000))
	if _, err := s.RotateRefreshToken(ctx, h, next, At(999)); err != nil {
		t.Errorf("rotation before expiry after rejected attempts: %v", err)
	}
	wantCode(t, "CreateRefreshToken without hash", s.CreateRefreshToken(ctx, &models.RefreshToken{AgentID: a.ID, ExpiresAt: At(1)}), models.EINVALID)
}

func testRefreshRevokeFamily(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateAgent(t, s, models.Agent{})
	first, h1 := newToken(a.ID, At(3600_000))
	if err := s.CreateRefreshToken(ctx, first); err != nil {
		t.Fatal(err)
	}
	second, h2 := newToken(a.ID, At(3600_000))
	if _, err := s.RotateRefreshToken(ctx, h1, second, At(1)); err != nil {
		t.Fatal(err)
	}
	// Logging out with the old (used) hash still ends the family.
	if err := s.RevokeRefreshFamily(ctx, h1, At(2)); err != nil {
		t.Fatalf("RevokeRefreshFamily: %v", err)
	}
	next, _ := newToken(a.ID, At(3600_000))
	_, err := s.RotateRefreshToken(ctx, h2, next, At(3))
	wantCode(t, "rotating after logout", err, models.EUNAUTHORIZED)
	if err := s.RevokeRefreshFamily(ctx, RandomHex(32), At(4)); err != nil {
		t.Errorf("RevokeRefreshFamily(unknown) = %v, want nil", err)
	}
}

func testRefreshConcurrent(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateAgent(t, s, models.Agent{})
	tok, h := newToken(a.ID, At(3600_000))
	if err := s.CreateRefreshToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next, _ := newToken(a.ID, At(3600_000))
			_, errs[i] = s.RotateRefreshToken(ctx, h, next, At(10))
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch models.ErrorCode(err) {
		case "":
			ok++
		case models.EUNAUTHORIZED:
		default:
			t.Errorf("concurrent rotation: %v, want success or %s", err, models.EUNAUTHORIZED)
		}
	}
	if ok > 1 {
		t.Errorf("%d of %d concurrent rotations of one token succeeded, want at most 1", ok, n)
	}
}

func testVisitors(t *testing.T, s models.Store) {
	ctx := t.Context()
	wantCode(t, "CreateVisitor without token hash", s.CreateVisitor(ctx, &models.Visitor{}), models.EINVALID)
	v := models.Visitor{TokenHash: RandomHex(32), PageURL: "https://shop.example/a", Lang: "de"}
	if err := s.CreateVisitor(ctx, &v); err != nil {
		t.Fatalf("CreateVisitor: %v", err)
	}
	if v.ID == "" {
		t.Fatal("CreateVisitor did not assign an ID")
	}
	got, err := s.VisitorByTokenHash(ctx, v.TokenHash)
	if err != nil || got.ID != v.ID || got.PageURL != v.PageURL || got.Lang != "de" {
		t.Errorf("VisitorByTokenHash = %+v, %v; want %+v", got, err, v)
	}
	_, err = s.VisitorByTokenHash(ctx, RandomHex(32))
	wantCode(t, "VisitorByTokenHash(unknown)", err, models.ENOTFOUND)
	_, err = s.Visitor(ctx, "no-such-id")
	wantCode(t, "Visitor(unknown)", err, models.ENOTFOUND)

	title, name, verified := "Checkout", "Vera", true
	up, err := s.UpdateVisitor(ctx, v.ID, models.VisitorUpdate{PageTitle: &title, Name: &name, Verified: &verified, Now: At(5000)})
	if err != nil {
		t.Fatalf("UpdateVisitor: %v", err)
	}
	stored, err := s.Visitor(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*models.Visitor{up, stored} {
		if x.PageTitle != title || x.Name != name || !x.Verified || x.PageURL != v.PageURL || !x.LastSeenAt.Equal(At(5000)) {
			t.Errorf("after UpdateVisitor: %+v; want title, name, verified set, page URL kept, LastSeenAt %v", x, At(5000))
		}
	}
	_, err = s.UpdateVisitor(ctx, "no-such-id", models.VisitorUpdate{Now: At(1)})
	wantCode(t, "UpdateVisitor(unknown)", err, models.ENOTFOUND)
}

func testSendVisitorMessage(t *testing.T, s models.Store) {
	ctx := t.Context()
	v := MustCreateVisitor(t, s, models.Visitor{})
	dept := "dept-1"
	r1, err := s.SendVisitorMessage(ctx, models.VisitorMessage{VisitorID: v.ID, ClientID: "a", Body: "hi", DepartmentID: &dept, Now: At(100)})
	if err != nil {
		t.Fatalf("first message: %v", err)
	}
	c := r1.Conversation
	if !r1.Opened || r1.Duplicate || c == nil || r1.Message == nil {
		t.Fatalf("first message: %+v; want Opened, not Duplicate, with message and conversation", r1)
	}
	if c.Status != models.StatusQueued || c.VisitorID != v.ID || c.AgentID != nil || !c.QueuedAt.Equal(At(100)) ||
		c.LastSeq != 1 || c.DepartmentID == nil || *c.DepartmentID != dept || !c.LastMessageAt.Equal(At(100)) {
		t.Errorf("opened conversation = %+v; want queued at %v with LastSeq 1 and department %q", c, At(100), dept)
	}
	m := r1.Message
	if m.Seq != 1 || m.ConversationID != c.ID || m.SenderKind != models.SenderVisitor || m.SenderID != v.ID ||
		m.ClientID != "a" || m.Body != "hi" || m.ID == "" || !m.CreatedAt.Equal(At(100)) {
		t.Errorf("first message = %+v", m)
	}

	r2, err := s.SendVisitorMessage(ctx, models.VisitorMessage{VisitorID: v.ID, ClientID: "b", Body: "anyone?", Now: At(200)})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Opened || r2.Duplicate || r2.Conversation.ID != c.ID || r2.Message.Seq != 2 || r2.Conversation.LastSeq != 2 {
		t.Errorf("second message: %+v / %+v; want seq 2 in the same conversation", r2.Message, r2.Conversation)
	}
	if got := MustConversation(t, s, c.ID); !got.QueuedAt.Equal(At(100)) || !got.LastMessageAt.Equal(At(200)) {
		t.Errorf("after second message QueuedAt=%v LastMessageAt=%v; want %v, %v", got.QueuedAt, got.LastMessageAt, At(100), At(200))
	}

	if _, err := s.ResolveConversation(ctx, c.ID, At(300)); err != nil {
		t.Fatal(err)
	}
	r3, err := s.SendVisitorMessage(ctx, models.VisitorMessage{VisitorID: v.ID, ClientID: "c", Body: "me again", Now: At(400)})
	if err != nil {
		t.Fatal(err)
	}
	if !r3.Opened || r3.Conversation.ID == c.ID || r3.Message.Seq != 1 || !r3.Conversation.QueuedAt.Equal(At(400)) {
		t.Errorf("message after resolve: %+v / %+v; want a new conversation starting at seq 1", r3.Message, r3.Conversation)
	}
	if open, err := s.OpenConversationOf(ctx, v.ID); err != nil || open.ID != r3.Conversation.ID {
		t.Errorf("OpenConversationOf = %v, %v; want %s", open, err, r3.Conversation.ID)
	}
}

func testSendVisitorMessageInvalid(t *testing.T, s models.Store) {
	ctx := t.Context()
	v := MustCreateVisitor(t, s, models.Visitor{})
	for _, tc := range []struct {
		name string
		m    models.VisitorMessage
		want models.Code
	}{
		{"empty client id", models.VisitorMessage{VisitorID: v.ID, Body: "x", Now: At(0)}, models.EINVALID},
		{"empty body", models.VisitorMessage{VisitorID: v.ID, ClientID: "a", Now: At(0)}, models.EINVALID},
		{"unknown visitor", models.VisitorMessage{VisitorID: "no-such-id", ClientID: "a", Body: "x", Now: At(0)}, models.ENOTFOUND},
	} {
		_, err := s.SendVisitorMessage(ctx, tc.m)
		wantCode(t, tc.name, err, tc.want)
	}
	_, err := s.OpenConversationOf(ctx, v.ID)
	wantCode(t, "OpenConversationOf after refused sends", err, models.ENOTFOUND)
}

// The open-conversation hint saves a lookup but is never trusted: another
// visitor's conversation, a resolved one or a made-up id change nothing.
func testSendVisitorMessageHint(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateVisitor(t, s, models.Visitor{})
	b := MustCreateVisitor(t, s, models.Visitor{})
	first := func(v *models.Visitor, hint string, n int) models.SendResult {
		t.Helper()
		res, err := s.SendVisitorMessage(ctx, models.VisitorMessage{VisitorID: v.ID, ClientID: fmt.Sprint("c", n),
			Body: "x", OpenConversationID: hint, Now: At(n)})
		if err != nil {
			t.Fatalf("send %d: %v", n, err)
		}
		return res
	}
	ca := first(a, "", 0).Conversation
	cb := first(b, ca.ID, 1).Conversation // a's conversation as b's hint
	if cb.ID == ca.ID || cb.VisitorID != b.ID {
		t.Fatalf("b's message went to conversation %s of visitor %s", cb.ID, cb.VisitorID)
	}
	if got := first(a, "no-such-id", 2); got.Conversation.ID != ca.ID || got.Message.Seq != 2 {
		t.Errorf("with a made-up hint: conversation %s seq %d, want %s seq 2", got.Conversation.ID, got.Message.Seq, ca.ID)
	}
	if got := first(a, ca.ID, 3); got.Conversation.ID != ca.ID || got.Message.Seq != 3 {
		t.Errorf("with the right hint: conversation %s seq %d, want %s seq 3", got.Conversation.ID, got.Message.Seq, ca.ID)
	}
	if _, err := s.ResolveConversation(ctx, ca.ID, At(4)); err != nil {
		t.Fatal(err)
	}
	if got := first(a, ca.ID, 5); got.Conversation.ID == ca.ID || !got.Opened {
		t.Errorf("a resolved conversation as hint: got conversation %s (opened %v), want a new one", got.Conversation.ID, got.Opened)
	}
	msgs, err := s.Messages(ctx, ca.ID, 0, 100)
	if err != nil || len(msgs) != 3 {
		t.Errorf("a's first conversation holds %d messages (%v), want 3", len(msgs), err)
	}
}

func testVisitorConcurrentFirst(t *testing.T, s models.Store) {
	ctx := t.Context()
	v := MustCreateVisitor(t, s, models.Visitor{})
	const n = 10
	var wg sync.WaitGroup
	res := make([]models.SendResult, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			res[i], err = s.SendVisitorMessage(ctx, models.VisitorMessage{
				VisitorID: v.ID, ClientID: fmt.Sprintf("first-%d", i), Body: "hello", Now: At(i),
			})
			if err != nil {
				t.Errorf("concurrent first message %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	opened := 0
	for _, r := range res {
		if r.Opened {
			opened++
		}
		if r.Conversation.ID != res[0].Conversation.ID {
			t.Errorf("concurrent first messages landed in conversations %s and %s; a visitor has at most one open",
				res[0].Conversation.ID, r.Conversation.ID)
		}
	}
	if opened != 1 {
		t.Errorf("%d results say Opened, want 1", opened)
	}
	cs, err := s.Conversations(ctx, models.ConversationFilter{VisitorID: v.ID})
	if err != nil || len(cs) != 1 {
		t.Errorf("Conversations(visitor) = %d, %v; want 1", len(cs), err)
	}
	checkSeqs(t, MustMessages(t, s, res[0].Conversation.ID), n)
}

// checkSeqs fails t unless ms are numbered exactly 1..n in order.
func checkSeqs(t *testing.T, ms []*models.Message, n int) {
	t.Helper()
	if len(ms) != n {
		t.Errorf("%d messages stored, want %d", len(ms), n)
	}
	for i, m := range ms {
		if m.Seq != int64(i+1) {
			t.Errorf("message %d has Seq %d, want %d (gap-free from 1)", i, m.Seq, i+1)
			return
		}
	}
}

// checkOnce fails t unless all results acknowledge one stored message.
func checkOnce(t *testing.T, res []models.SendResult) {
	t.Helper()
	fresh := 0
	for _, r := range res {
		if r.Message == nil || r.Conversation == nil {
			t.Fatalf("result without message or conversation: %+v", r)
		}
		if !r.Duplicate {
			fresh++
		}
		if r.Message.ID != res[0].Message.ID || r.Message.Seq != res[0].Message.Seq {
			t.Errorf("results disagree: message %s seq %d vs %s seq %d", r.Message.ID, r.Message.Seq, res[0].Message.ID, res[0].Message.Seq)
		}
	}
	if fresh != 1 {
		t.Errorf("%d results have Duplicate=false, want exactly 1", fresh)
	}
}

func testIdempotentVisitor(t *testing.T, s models.Store) {
	ctx := t.Context()
	v := MustCreateVisitor(t, s, models.Visitor{})
	const n = 50
	var wg sync.WaitGroup
	res := make([]models.SendResult, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			res[i], err = s.SendVisitorMessage(ctx, models.VisitorMessage{VisitorID: v.ID, ClientID: "same", Body: "once", Now: At(i)})
			if err != nil {
				t.Errorf("send %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	checkOnce(t, res)
	checkSeqs(t, MustMessages(t, s, res[0].Conversation.ID), 1)
}

func testIdempotentAgent(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateAgent(t, s, models.Agent{})
	c := MustOpenConversation(t, s, At(0))
	MustAssign(t, s, c.ID, a.ID, 5, At(1))
	const n = 50
	var wg sync.WaitGroup
	res := make([]models.SendResult, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			res[i], err = s.AppendMessage(ctx, models.NewMessage{
				ConversationID: c.ID, SenderKind: models.SenderAgent, SenderID: a.ID, ClientID: "same",
				Body: "once", RequireAgentID: a.ID, Now: At(10 + i),
			})
			if err != nil {
				t.Errorf("append %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	checkOnce(t, res)
	checkSeqs(t, MustMessages(t, s, c.ID), 2)
	if res[0].Message.Seq != 2 {
		t.Errorf("agent message seq = %d, want 2", res[0].Message.Seq)
	}
}

func testDuplicateAfterResolve(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateAgent(t, s, models.Agent{})
	v := MustCreateVisitor(t, s, models.Visitor{})
	vm := models.VisitorMessage{VisitorID: v.ID, ClientID: "v1", Body: "hello", Now: At(0)}
	first, err := s.SendVisitorMessage(ctx, vm)
	if err != nil {
		t.Fatal(err)
	}
	c := first.Conversation
	MustAssign(t, s, c.ID, a.ID, 5, At(1))
	am := models.NewMessage{ConversationID: c.ID, SenderKind: models.SenderAgent, SenderID: a.ID, ClientID: "a1",
		Body: "hi", RequireAgentID: a.ID, Now: At(2)}
	firstAgent, err := s.AppendMessage(ctx, am)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResolveConversation(ctx, c.ID, At(3)); err != nil {
		t.Fatal(err)
	}

	vm.Now = At(4)
	again, err := s.SendVisitorMessage(ctx, vm)
	if err != nil {
		t.Fatalf("visitor retry after resolve: %v", err)
	}
	if !again.Duplicate || again.Opened || again.Message.ID != first.Message.ID || again.Conversation.ID != c.ID {
		t.Errorf("visitor retry after resolve = %+v; want the first message as a duplicate", again)
	}
	am.Now = At(5)
	againAgent, err := s.AppendMessage(ctx, am)
	if err != nil {
		t.Fatalf("agent retry after resolve: %v", err)
	}
	if !againAgent.Duplicate || againAgent.Message.ID != firstAgent.Message.ID {
		t.Errorf("agent retry after resolve = %+v; want the first message as a duplicate", againAgent)
	}
	checkSeqs(t, MustMessages(t, s, c.ID), 2)
	if _, err := s.OpenConversationOf(ctx, v.ID); models.ErrorCode(err) != models.ENOTFOUND {
		t.Errorf("a duplicate opened a conversation: OpenConversationOf = %v", err)
	}
}

func testSeqConcurrent(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateAgent(t, s, models.Agent{})
	v := MustCreateVisitor(t, s, models.Visitor{})
	c := MustSendVisitorMessage(t, s, v.ID, "first", At(0)).Conversation
	MustAssign(t, s, c.ID, a.ID, 5, At(1))
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				var err error
				if w%2 == 0 {
					_, err = s.AppendMessage(ctx, models.NewMessage{ConversationID: c.ID, SenderKind: models.SenderAgent,
						SenderID: a.ID, ClientID: fmt.Sprintf("w%d-%d", w, i), Body: "a", Now: At(10 + i)})
				} else {
					_, err = s.SendVisitorMessage(ctx, models.VisitorMessage{VisitorID: v.ID,
						ClientID: fmt.Sprintf("w%d-%d", w, i), Body: "v", Now: At(10 + i)})
				}
				if err != nil {
					t.Errorf("writer %d message %d: %v", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	n := 1 + writers*each
	checkSeqs(t, MustMessages(t, s, c.ID), n)
	if got := MustConversation(t, s, c.ID).LastSeq; got != int64(n) {
		t.Errorf("LastSeq = %d, want %d", got, n)
	}
}

func testAppendErrors(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateAgent(t, s, models.Agent{})
	b := MustCreateAgent(t, s, models.Agent{})
	queued := MustOpenConversation(t, s, At(0))
	assigned := MustOpenConversation(t, s, At(1))
	MustAssign(t, s, assigned.ID, a.ID, 5, At(2))
	resolved := MustOpenConversation(t, s, At(3))
	if _, err := s.ResolveConversation(ctx, resolved.ID, At(4)); err != nil {
		t.Fatal(err)
	}
	agentMsg := func(conv, sender, require, body string) models.NewMessage {
		return models.NewMessage{ConversationID: conv, SenderKind: models.SenderAgent, SenderID: sender,
			ClientID: "c-" + RandomHex(8), Body: body, RequireAgentID: require, Now: At(10)}
	}
	for _, tc := range []struct {
		name string
		m    models.NewMessage
		want models.Code
		conv string // whose messages must be unchanged
	}{
		{"unknown conversation", agentMsg("no-such-id", a.ID, "", "x"), models.ENOTFOUND, ""},
		{"resolved", agentMsg(resolved.ID, a.ID, "", "x"), models.ECONFLICT, resolved.ID},
		{"other agent's conversation", agentMsg(assigned.ID, b.ID, b.ID, "x"), models.EFORBIDDEN, assigned.ID},
		{"require agent on queued", agentMsg(queued.ID, a.ID, a.ID, "x"), models.EFORBIDDEN, queued.ID},
		{"empty body", agentMsg(assigned.ID, a.ID, a.ID, ""), models.EINVALID, assigned.ID},
		{"empty client id", models.NewMessage{ConversationID: assigned.ID, SenderKind: models.SenderAgent, SenderID: a.ID, Body: "x", Now: At(10)}, models.EINVALID, assigned.ID},
		{"visitor empty client id", models.NewMessage{ConversationID: queued.ID, SenderKind: models.SenderVisitor, SenderID: queued.VisitorID, Body: "x", Now: At(10)}, models.EINVALID, queued.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before []*models.Message
			if tc.conv != "" {
				before = MustMessages(t, s, tc.conv)
			}
			_, err := s.AppendMessage(ctx, tc.m)
			wantCode(t, "AppendMessage", err, tc.want)
			if tc.conv != "" {
				after := MustMessages(t, s, tc.conv)
				if len(after) != len(before) || MustConversation(t, s, tc.conv).LastSeq != int64(len(before)) {
					t.Errorf("a refused append stored something: %d messages before, %d after", len(before), len(after))
				}
			}
		})
	}
	// The holder may write; the refused attempts left no gap.
	r := MustAppendAgentMessage(t, s, assigned.ID, a.ID, "ok", At(20))
	if r.Message.Seq != 2 {
		t.Errorf("append after refused ones got Seq %d, want 2", r.Message.Seq)
	}
}

func testSystemMessages(t *testing.T, s models.Store) {
	ctx := t.Context()
	c := MustOpenConversation(t, s, At(0))
	for i := range 2 {
		r, err := s.AppendMessage(ctx, models.NewMessage{ConversationID: c.ID, SenderKind: models.SenderSystem, Body: "Agent joined", Now: At(1 + i)})
		if err != nil {
			t.Fatalf("system message %d: %v", i, err)
		}
		if r.Duplicate || r.Message.Seq != int64(2+i) || r.Message.SenderID != "" || r.Message.ClientID != "" {
			t.Errorf("system message %d = %+v; want a new message with seq %d and no sender", i, r.Message, 2+i)
		}
	}
	checkSeqs(t, MustMessages(t, s, c.ID), 3)
}

func testMessagesPaging(t *testing.T, s models.Store) {
	ctx := t.Context()
	c := MustOpenConversation(t, s, At(0))
	const n = 520
	for i := 2; i <= n; i++ {
		if _, err := s.AppendMessage(ctx, models.NewMessage{ConversationID: c.ID, SenderKind: models.SenderSystem,
			Body: fmt.Sprintf("m%d", i), Now: At(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		after          int64
		limit          int
		wantN          int
		wantFirstSeq   int64
		wantLastSeqOpt int64
	}{
		{0, 0, 100, 1, 100},
		{0, -1, 100, 1, 100},
		{0, 1000, 500, 1, 500},
		{0, 500, 500, 1, 500},
		{3, 2, 2, 4, 5},
		{510, 0, 10, 511, 520},
		{520, 10, 0, 0, 0},
		{600, 10, 0, 0, 0},
	} {
		ms, err := s.Messages(ctx, c.ID, tc.after, tc.limit)
		if err != nil {
			t.Fatalf("Messages(after %d, limit %d): %v", tc.after, tc.limit, err)
		}
		if len(ms) != tc.wantN {
			t.Errorf("Messages(after %d, limit %d) = %d messages, want %d", tc.after, tc.limit, len(ms), tc.wantN)
			continue
		}
		if tc.wantN > 0 && (ms[0].Seq != tc.wantFirstSeq || ms[len(ms)-1].Seq != tc.wantLastSeqOpt) {
			t.Errorf("Messages(after %d, limit %d) seqs %d..%d, want %d..%d", tc.after, tc.limit,
				ms[0].Seq, ms[len(ms)-1].Seq, tc.wantFirstSeq, tc.wantLastSeqOpt)
		}
		for i := 1; i < len(ms); i++ {
			if ms[i].Seq != ms[i-1].Seq+1 {
				t.Errorf("Messages out of order at %d: %d after %d", i, ms[i].Seq, ms[i-1].Seq)
				break
			}
		}
	}
	if ms, _ := s.Messages(ctx, c.ID, 4, 1); len(ms) == 1 && ms[0].Body != "m5" {
		t.Errorf("message 5 body = %q, want m5", ms[0].Body)
	}
	_, err := s.Messages(ctx, "no-such-id", 0, 10)
	wantCode(t, "Messages(unknown conversation)", err, models.ENOTFOUND)
	other := MustOpenConversation(t, s, At(0))
	if ms, err := s.Messages(ctx, other.ID, 0, 0); err != nil || len(ms) != 1 {
		t.Errorf("Messages of another conversation = %d, %v; want its 1 message", len(ms), err)
	}
}

func ids(cs []*models.Conversation) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func testConversationLookups(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateAgent(t, s, models.Agent{})
	b := MustCreateAgent(t, s, models.Agent{})
	// Activity order: c1 (oldest) … c4 (newest); c2's late message moves it last.
	c1 := MustOpenConversation(t, s, At(100))
	c2 := MustOpenConversation(t, s, At(200))
	c3 := MustOpenConversation(t, s, At(300))
	c4 := MustOpenConversation(t, s, At(400))
	MustAssign(t, s, c1.ID, a.ID, 5, At(500))
	MustAssign(t, s, c2.ID, a.ID, 5, At(510))
	MustAssign(t, s, c3.ID, b.ID, 5, At(520))
	if _, err := s.ResolveConversation(ctx, c1.ID, At(530)); err != nil {
		t.Fatal(err)
	}
	MustAppendAgentMessage(t, s, c2.ID, a.ID, "late", At(900))

	_, err := s.Conversation(ctx, "no-such-id")
	wantCode(t, "Conversation(unknown)", err, models.ENOTFOUND)
	if got := MustConversation(t, s, c3.ID); got.Status != models.StatusAssigned || got.AgentID == nil || *got.AgentID != b.ID {
		t.Errorf("Conversation(c3) = %+v, want assigned to b", got)
	}
	if got, err := s.OpenConversationOf(ctx, c4.VisitorID); err != nil || got.ID != c4.ID {
		t.Errorf("OpenConversationOf(c4's visitor) = %v, %v", got, err)
	}
	if got, err := s.OpenConversationOf(ctx, c2.VisitorID); err != nil || got.ID != c2.ID {
		t.Errorf("OpenConversationOf(c2's visitor, assigned) = %v, %v", got, err)
	}
	_, err = s.OpenConversationOf(ctx, c1.VisitorID)
	wantCode(t, "OpenConversationOf(only resolved)", err, models.ENOTFOUND)

	for _, tc := range []struct {
		name string
		f    models.ConversationFilter
		want []string
	}{
		{"all", models.ConversationFilter{}, []string{c2.ID, c4.ID, c3.ID, c1.ID}},
		{"agent a", models.ConversationFilter{AgentID: a.ID}, []string{c2.ID, c1.ID}},
		{"agent a assigned", models.ConversationFilter{AgentID: a.ID, Statuses: []models.Status{models.StatusAssigned}}, []string{c2.ID}},
		{"open", models.ConversationFilter{Statuses: []models.Status{models.StatusQueued, models.StatusAssigned}}, []string{c2.ID, c4.ID, c3.ID}},
		{"resolved", models.ConversationFilter{Statuses: []models.Status{models.StatusResolved}}, []string{c1.ID}},
		{"visitor", models.ConversationFilter{VisitorID: c4.VisitorID}, []string{c4.ID}},
		{"limit", models.ConversationFilter{Limit: 2}, []string{c2.ID, c4.ID}},
		{"nobody", models.ConversationFilter{AgentID: "no-such-id"}, nil},
	} {
		got, err := s.Conversations(ctx, tc.f)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !slices.Equal(ids(got), tc.want) {
			t.Errorf("Conversations(%s) = %v, want %v", tc.name, ids(got), tc.want)
		}
	}
}

func testQueueOrder(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateAgent(t, s, models.Agent{})
	// Opened out of order; two share a QueuedAt, so ID breaks the tie.
	late := MustOpenConversation(t, s, At(300))
	early := MustOpenConversation(t, s, At(100))
	tieX := MustOpenConversation(t, s, At(200))
	tieY := MustOpenConversation(t, s, At(200))
	taken := MustOpenConversation(t, s, At(50))
	MustAssign(t, s, taken.ID, a.ID, 5, At(400))
	ties := []string{tieX.ID, tieY.ID}
	sort.Strings(ties)
	want := []string{early.ID, ties[0], ties[1], late.ID}
	q, err := s.Queue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(q), want) {
		t.Errorf("Queue() = %v, want %v", ids(q), want)
	}
	// A requeued conversation goes back to its old place, not the end.
	if _, err := s.RequeueConversation(ctx, taken.ID, a.ID, At(500)); err != nil {
		t.Fatal(err)
	}
	q, _ = s.Queue(ctx)
	if want := append([]string{taken.ID}, want...); !slices.Equal(ids(q), want) {
		t.Errorf("Queue() after requeue = %v, want %v", ids(q), want)
	}
	// Priority is not settable through the Store interface (see report);
	// every conversation here is PriorityNormal.
	for _, c := range q {
		if c.Priority != models.PriorityNormal || c.Status != models.StatusQueued {
			t.Errorf("queued conversation %s: priority %d status %s", c.ID, c.Priority, c.Status)
		}
	}
}

func testAssign(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateAgent(t, s, models.Agent{})
	c := MustOpenConversation(t, s, At(0))
	got, err := s.AssignConversation(ctx, models.Assignment{ConversationID: c.ID, AgentID: a.ID, Capacity: 2,
		Strategy: "least_busy", Reason: `{"candidates":1}`, Now: At(1000)})
	if err != nil {
		t.Fatalf("AssignConversation: %v", err)
	}
	for _, x := range []*models.Conversation{got, MustConversation(t, s, c.ID)} {
		if x.Status != models.StatusAssigned || x.AgentID == nil || *x.AgentID != a.ID || x.AssignedAt == nil ||
			!x.AssignedAt.Equal(At(1000)) || !x.QueuedAt.Equal(At(0)) {
			t.Errorf("assigned conversation = %+v; want assigned to %s at %v, QueuedAt kept", x, a.ID, At(1000))
		}
	}
	ag := MustAgent(t, s, a.ID)
	if ag.OpenChats != 1 || ag.LastAssignedAt == nil || !ag.LastAssignedAt.Equal(At(1000)) {
		t.Errorf("agent after assignment: OpenChats %d LastAssignedAt %v; want 1, %v", ag.OpenChats, ag.LastAssignedAt, At(1000))
	}
	recs, err := s.Assignments(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].AgentID != a.ID || recs[0].ConversationID != c.ID || recs[0].Strategy != "least_busy" ||
		recs[0].Reason != `{"candidates":1}` || recs[0].ID == "" {
		t.Errorf("Assignments = %+v; want one record with strategy and reason", recs)
	}
	if q, _ := s.Queue(ctx); len(q) != 0 {
		t.Errorf("Queue after assignment has %d conversations, want 0", len(q))
	}
	if recs, err := s.Assignments(ctx, "no-such-id"); err != nil || len(recs) != 0 {
		t.Errorf("Assignments(unknown) = %v, %v; want none", recs, err)
	}
}

func testAssignErrors(t *testing.T, s models.Store) {
	ctx := t.Context()
	full := MustCreateAgent(t, s, models.Agent{})
	free := MustCreateAgent(t, s, models.Agent{})
	off := MustCreateAgent(t, s, models.Agent{})
	yes := true
	if _, err := s.UpdateAgent(ctx, off.ID, models.AgentUpdate{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	held := MustOpenConversation(t, s, At(0))
	MustAssign(t, s, held.ID, full.ID, 1, At(1))
	resolved := MustOpenConversation(t, s, At(2))
	if _, err := s.ResolveConversation(ctx, resolved.ID, At(3)); err != nil {
		t.Fatal(err)
	}
	queued := MustOpenConversation(t, s, At(4))

	for _, tc := range []struct {
		name     string
		conv, ag string
		capacity int
		want     models.Code
	}{
		{"already assigned", held.ID, free.ID, 5, models.ECONFLICT},
		{"already assigned to the same agent", held.ID, full.ID, 5, models.ECONFLICT},
		{"resolved", resolved.ID, free.ID, 5, models.ECONFLICT},
		{"at capacity", queued.ID, full.ID, 1, models.ECAPACITY},
		{"over capacity (cap lowered)", queued.ID, full.ID, 0, models.ECAPACITY},
		{"disabled agent", queued.ID, off.ID, 5, models.EFORBIDDEN},
		{"unknown agent", queued.ID, "no-such-id", 5, models.ENOTFOUND},
		{"unknown conversation", "no-such-id", free.ID, 5, models.ENOTFOUND},
	} {
		_, err := s.AssignConversation(ctx, models.Assignment{ConversationID: tc.conv, AgentID: tc.ag,
			Capacity: tc.capacity, Strategy: "test", Now: At(10)})
		wantCode(t, tc.name, err, tc.want)
	}
	// Nothing changed.
	if got := MustConversation(t, s, queued.ID); got.Status != models.StatusQueued || got.AgentID != nil || got.AssignedAt != nil {
		t.Errorf("refused assignments changed the queued conversation: %+v", got)
	}
	if got := MustConversation(t, s, held.ID); got.AgentID == nil || *got.AgentID != full.ID {
		t.Errorf("refused assignments changed the held conversation: %+v", got)
	}
	for _, x := range []struct {
		id   string
		open int
	}{{full.ID, 1}, {free.ID, 0}, {off.ID, 0}} {
		ag := MustAgent(t, s, x.id)
		if ag.OpenChats != x.open {
			t.Errorf("agent %s OpenChats = %d, want %d", ag.Email, ag.OpenChats, x.open)
		}
		if x.id != full.ID && ag.LastAssignedAt != nil {
			t.Errorf("agent %s LastAssignedAt set by a refused assignment", ag.Email)
		}
	}
	for _, c := range []string{queued.ID, resolved.ID} {
		if recs, _ := s.Assignments(ctx, c); len(recs) != 0 {
			t.Errorf("refused assignments left %d records", len(recs))
		}
	}
	if recs, _ := s.Assignments(ctx, held.ID); len(recs) != 1 {
		t.Errorf("held conversation has %d records, want 1", len(recs))
	}
}

func testAssignRace(t *testing.T, s models.Store) {
	ctx := t.Context()
	caps := []int{2, 3, 4, 6}
	agents := make([]*models.Agent, len(caps))
	for i := range caps {
		agents[i] = MustCreateAgent(t, s, models.Agent{MaxChats: caps[i]})
	}
	const nConv = 24 // more than the 15 seats, so every agent fills up
	convs := make([]string, nConv)
	for i := range convs {
		convs[i] = MustOpenConversation(t, s, At(i)).ID
	}

	type win struct{ conv, agent string }
	var (
		mu   sync.Mutex
		wins []win
	)
	done := make(chan struct{})
	var watch sync.WaitGroup
	watch.Add(1)
	go func() { // Watches that no agent is ever seen above its cap.
		defer watch.Done()
		for {
			for i, a := range agents {
				got, err := s.Agent(ctx, a.ID)
				if err != nil {
					t.Errorf("watcher: %v", err)
					return
				}
				if got.OpenChats > caps[i] {
					t.Errorf("agent %d seen with %d open chats, cap %d", i, got.OpenChats, caps[i])
				}
			}
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond): // a pause, not a deadline
			}
		}
	}()

	const workers = 6
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			order := slices.Clone(convs)
			r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			for _, c := range order {
				for _, i := range r.Perm(len(agents)) {
					_, err := s.AssignConversation(ctx, models.Assignment{ConversationID: c, AgentID: agents[i].ID,
						Capacity: caps[i], Strategy: "race", Now: At(1000 + w)})
					switch models.ErrorCode(err) {
					case "":
						mu.Lock()
						wins = append(wins, win{c, agents[i].ID})
						mu.Unlock()
					case models.ECONFLICT, models.ECAPACITY:
					default:
						t.Errorf("racing assignment: %v, want success, %s or %s", err, models.ECONFLICT, models.ECAPACITY)
					}
					if err == nil || models.ErrorCode(err) == models.ECONFLICT {
						break // this conversation is taken; next one
					}
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	watch.Wait()

	seats := 0
	for _, c := range caps {
		seats += c
	}
	perConv := map[string]int{}
	perAgent := map[string]int{}
	for _, w := range wins {
		perConv[w.conv]++
		perAgent[w.agent]++
	}
	for c, n := range perConv {
		if n > 1 {
			t.Errorf("conversation %s assigned %d times", c, n)
		}
	}
	if len(wins) != seats {
		t.Errorf("%d successful assignments, want %d (every seat filled, none twice)", len(wins), seats)
	}
	for i, a := range agents {
		got := MustAgent(t, s, a.ID)
		held, err := s.Conversations(ctx, models.ConversationFilter{AgentID: a.ID, Statuses: []models.Status{models.StatusAssigned}})
		if err != nil {
			t.Fatal(err)
		}
		if got.OpenChats != caps[i] || len(held) != caps[i] || perAgent[a.ID] != caps[i] {
			t.Errorf("agent %d: OpenChats %d, holds %d, won %d; want cap %d for all",
				i, got.OpenChats, len(held), perAgent[a.ID], caps[i])
		}
	}
	if q, _ := s.Queue(ctx); len(q) != nConv-seats {
		t.Errorf("Queue has %d conversations left, want %d", len(q), nConv-seats)
	}
	for _, c := range convs {
		recs, _ := s.Assignments(ctx, c)
		if len(recs) != perConv[c] {
			t.Errorf("conversation %s has %d assignment records, want %d", c, len(recs), perConv[c])
		}
	}
}

func testRequeue(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateAgent(t, s, models.Agent{})
	b := MustCreateAgent(t, s, models.Agent{})
	c := MustOpenConversation(t, s, At(100))
	MustAssign(t, s, c.ID, a.ID, 5, At(200))

	_, err := s.RequeueConversation(ctx, c.ID, b.ID, At(300))
	wantCode(t, "requeue from the wrong agent", err, models.ECONFLICT)
	_, err = s.RequeueConversation(ctx, "no-such-id", a.ID, At(300))
	if code := models.ErrorCode(err); code != models.ENOTFOUND && code != models.ECONFLICT {
		t.Errorf("requeue of unknown conversation: %v, want %s or %s", err, models.ENOTFOUND, models.ECONFLICT)
	}
	got, err := s.RequeueConversation(ctx, c.ID, a.ID, At(300))
	if err != nil {
		t.Fatalf("RequeueConversation: %v", err)
	}
	for _, x := range []*models.Conversation{got, MustConversation(t, s, c.ID)} {
		if x.Status != models.StatusQueued || x.AgentID != nil || !x.QueuedAt.Equal(At(100)) {
			t.Errorf("requeued conversation = %+v; want queued, no agent, QueuedAt %v kept", x, At(100))
		}
	}
	if n := MustAgent(t, s, a.ID).OpenChats; n != 0 {
		t.Errorf("OpenChats after requeue = %d, want 0", n)
	}
	_, err = s.RequeueConversation(ctx, c.ID, a.ID, At(400))
	wantCode(t, "requeue of a queued conversation", err, models.ECONFLICT)
	if n := MustAgent(t, s, a.ID).OpenChats; n != 0 {
		t.Errorf("OpenChats after refused requeue = %d, want 0", n)
	}

	MustAssign(t, s, c.ID, b.ID, 5, At(500))
	recs, err := s.Assignments(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].AgentID != a.ID || recs[1].AgentID != b.ID {
		t.Errorf("Assignments after reassign = %+v; want a then b", recs)
	}
	if _, err := s.ResolveConversation(ctx, c.ID, At(600)); err != nil {
		t.Fatal(err)
	}
	_, err = s.RequeueConversation(ctx, c.ID, b.ID, At(700))
	wantCode(t, "requeue of a resolved conversation", err, models.ECONFLICT)
}

func testResolve(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateAgent(t, s, models.Agent{})
	c1 := MustOpenConversation(t, s, At(0))
	c2 := MustOpenConversation(t, s, At(1))
	MustAssign(t, s, c1.ID, a.ID, 5, At(2))
	MustAssign(t, s, c2.ID, a.ID, 5, At(3))
	got, err := s.ResolveConversation(ctx, c1.ID, At(10))
	if err != nil {
		t.Fatalf("ResolveConversation: %v", err)
	}
	if got.Status != models.StatusResolved || got.ResolvedAt == nil || !got.ResolvedAt.Equal(At(10)) {
		t.Errorf("resolved conversation = %+v; want resolved at %v", got, At(10))
	}
	if n := MustAgent(t, s, a.ID).OpenChats; n != 1 {
		t.Errorf("OpenChats after resolve = %d, want 1", n)
	}
	_, err = s.ResolveConversation(ctx, c1.ID, At(11))
	wantCode(t, "resolving twice", err, models.ECONFLICT)
	if n := MustAgent(t, s, a.ID).OpenChats; n != 1 {
		t.Errorf("OpenChats after a refused resolve = %d, want 1", n)
	}
	_, err = s.ResolveConversation(ctx, "no-such-id", At(11))
	wantCode(t, "resolving unknown", err, models.ENOTFOUND)

	queued := MustOpenConversation(t, s, At(20))
	if got, err := s.ResolveConversation(ctx, queued.ID, At(21)); err != nil || got.Status != models.StatusResolved {
		t.Errorf("resolving a queued conversation = %v, %v", got, err)
	}
	if q, _ := s.Queue(ctx); len(q) != 0 {
		t.Errorf("Queue after resolving the queued conversation has %d", len(q))
	}
	if n := MustAgent(t, s, a.ID).OpenChats; n != 1 {
		t.Errorf("OpenChats after resolving an unassigned conversation = %d, want 1", n)
	}
}

func testCopies(t *testing.T, s models.Store) {
	ctx := t.Context()
	in := models.Agent{Email: "copy@example.com", Name: "Copy", Role: models.RoleAgent, PasswordHash: "h"}
	if err := s.CreateAgent(ctx, &in); err != nil {
		t.Fatal(err)
	}
	in.Name = "changed after create"
	a := MustAgent(t, s, in.ID)
	a.Name, a.OpenChats = "changed after read", 99
	if got := MustAgent(t, s, in.ID); got.Name != "Copy" || got.OpenChats != 0 {
		t.Errorf("mutating values changed the stored agent: %+v", got)
	}
	list, _ := s.Agents(ctx)
	list[0].Name = "changed in list"
	byID, _ := s.AgentsByID(ctx, []string{in.ID})
	byID[in.ID].Name = "changed in map"
	if got := MustAgent(t, s, in.ID); got.Name != "Copy" {
		t.Errorf("mutating listed agents changed the store: %+v", got)
	}

	v := models.Visitor{TokenHash: RandomHex(32), Name: "V"}
	if err := s.CreateVisitor(ctx, &v); err != nil {
		t.Fatal(err)
	}
	v.Name = "changed"
	gv, _ := s.Visitor(ctx, v.ID)
	gv.Name = "changed too"
	if got, _ := s.Visitor(ctx, v.ID); got.Name != "V" {
		t.Errorf("mutating visitors changed the store: %+v", got)
	}

	dept := "d1"
	r, err := s.SendVisitorMessage(ctx, models.VisitorMessage{VisitorID: v.ID, ClientID: "x", Body: "original", DepartmentID: &dept, Now: At(0)})
	if err != nil {
		t.Fatal(err)
	}
	dept = "changed"
	r.Message.Body = "changed"
	r.Conversation.Status = models.StatusResolved
	*r.Conversation.DepartmentID = "changed"
	c := MustConversation(t, s, r.Conversation.ID)
	if c.Status != models.StatusQueued || c.DepartmentID == nil || *c.DepartmentID != "d1" {
		t.Errorf("mutating a send result changed the conversation: %+v", c)
	}
	ms := MustMessages(t, s, c.ID)
	if ms[0].Body != "original" {
		t.Errorf("mutating a send result changed the message: %q", ms[0].Body)
	}
	ms[0].Body = "changed"
	q, _ := s.Queue(ctx)
	q[0].LastSeq = 42
	cs, _ := s.Conversations(ctx, models.ConversationFilter{})
	cs[0].Status = models.StatusResolved
	if again := MustMessages(t, s, c.ID); again[0].Body != "original" {
		t.Errorf("mutating Messages' result changed the store")
	}
	if got := MustConversation(t, s, c.ID); got.LastSeq != 1 || got.Status != models.StatusQueued {
		t.Errorf("mutating listed conversations changed the store: %+v", got)
	}
	dup, err := s.SendVisitorMessage(ctx, models.VisitorMessage{VisitorID: v.ID, ClientID: "x", Body: "original", Now: At(1)})
	if err != nil || dup.Message.Body != "original" {
		t.Errorf("duplicate after mutation = %+v, %v; want the original body", dup.Message, err)
	}

	ag := MustCreateAgent(t, s, models.Agent{})
	// Results of state changes are copies too.
	assigned := MustAssign(t, s, c.ID, ag.ID, 5, At(2))
	assigned.Status, *assigned.AgentID = models.StatusQueued, "changed"
	if got := MustConversation(t, s, c.ID); got.Status != models.StatusAssigned || *got.AgentID != ag.ID {
		t.Errorf("mutating AssignConversation's result changed the store: %+v", got)
	}
	updated, err := s.UpdateAgent(ctx, ag.ID, models.AgentUpdate{RevokeTokens: true})
	if err != nil {
		t.Fatal(err)
	}
	updated.OpenChats, *updated.LastAssignedAt = 0, At(-1)
	if got := MustAgent(t, s, ag.ID); got.OpenChats != 1 || !got.LastAssignedAt.Equal(At(2)) {
		t.Errorf("mutating UpdateAgent's result changed the store: %+v", got)
	}
	uv, err := s.UpdateVisitor(ctx, v.ID, models.VisitorUpdate{Now: At(3)})
	if err != nil {
		t.Fatal(err)
	}
	uv.Name = "changed"
	if got, _ := s.Visitor(ctx, v.ID); got.Name != "V" {
		t.Errorf("mutating UpdateVisitor's result changed the store: %+v", got)
	}
	requeued, err := s.RequeueConversation(ctx, c.ID, ag.ID, At(4))
	if err != nil {
		t.Fatal(err)
	}
	requeued.Status = models.StatusResolved
	if got := MustConversation(t, s, c.ID); got.Status != models.StatusQueued {
		t.Errorf("mutating RequeueConversation's result changed the store: %+v", got)
	}
	MustAssign(t, s, c.ID, ag.ID, 5, At(5))
	resolved, err := s.ResolveConversation(ctx, c.ID, At(6))
	if err != nil {
		t.Fatal(err)
	}
	*resolved.ResolvedAt, resolved.Status = At(-1), models.StatusAssigned
	if got := MustConversation(t, s, c.ID); got.Status != models.StatusResolved || !got.ResolvedAt.Equal(At(6)) {
		t.Errorf("mutating ResolveConversation's result changed the store: %+v", got)
	}
	recs, _ := s.Assignments(ctx, c.ID)
	recs[0].Reason = "changed"
	if again, _ := s.Assignments(ctx, c.ID); again[0].Reason == "changed" {
		t.Errorf("mutating assignment records changed the store")
	}
	tok := models.RefreshToken{AgentID: ag.ID, TokenHash: RandomHex(32), ExpiresAt: At(10_000)}
	if err := s.CreateRefreshToken(ctx, &tok); err != nil {
		t.Fatal(err)
	}
	tok.ExpiresAt = At(0) // must not expire the stored token
	next := models.RefreshToken{TokenHash: RandomHex(32), ExpiresAt: At(20_000)}
	used, err := s.RotateRefreshToken(ctx, tok.TokenHash, &next, At(5))
	if err != nil {
		t.Fatalf("rotating after mutating the created token: %v", err)
	}
	used.UsedAt = nil
	_, err = s.RotateRefreshToken(ctx, tok.TokenHash, &models.RefreshToken{TokenHash: RandomHex(32), ExpiresAt: At(20_000)}, At(6))
	wantCode(t, "reusing after mutating the returned token", err, models.EUNAUTHORIZED)
}
