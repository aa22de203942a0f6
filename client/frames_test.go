package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/client"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// rawFrames keeps every frame a client received, as JSON (Options.OnFrame).
type rawFrames struct {
	mu     sync.Mutex
	frames [][]byte
}

func (r *rawFrames) add(data []byte) {
	r.mu.Lock()
	r.frames = append(r.frames, data)
	r.mu.Unlock()
}

func (r *rawFrames) all() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.frames...)
}

// waitEvent waits until r has an event of kind for which ok holds, and
// returns it.
func waitEvent(tb testing.TB, r *recorder, kind client.EventKind, what string, ok func(*wire.ServerFrame) bool) client.Event {
	tb.Helper()
	var got client.Event
	waitFor(tb, 20*time.Second, what, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, ev := range r.evs {
			if ev.Kind == kind && ev.Frame != nil && (ok == nil || ok(ev.Frame)) {
				got = ev
				return true
			}
		}
		return false
	})
	return got
}

// postJSON calls Kefu's REST API with an access token and decodes the answer.
func postJSON(tb testing.TB, url, token string, body, out any) {
	tb.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		tb.Fatalf("POST %s: HTTP %d", url, resp.StatusCode)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			tb.Fatalf("POST %s: %v", url, err)
		}
	}
}

// TestEveryServerFrameDecodes drives a real Kefu until it has sent every
// frame type docs/protocol.md lists under "Frames the server sends", to Go
// clients, and checks three ways that the server, wire.ServerFrame and the
// document agree:
//   - the client turns each frame into its event with the fields set;
//   - every frame as received decodes into wire.ServerFrame and encodes back
//     to the same JSON: no field the server sends is lost on decoding;
//   - every field the server sent is documented for its frame type, and
//     every documented field is one wire.ServerFrame (or its view) has.
func TestEveryServerFrameDecodes(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := client.Login(ctx, srv.URL, apptest.AdminEmail, apptest.AdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	raw := &rawFrames{}
	opts := fastBackoff()
	opts.OnFrame = raw.add

	// A shopper writes while no agent is online: ack, message, conversation,
	// position, unavailable.
	shop := MustVisitor(t, srv.URL, client.VisitorOptions{Options: opts})
	sr := record(shop)
	conv := send(t, shop, "", "Anyone there?").ConversationID
	un := waitEvent(t, sr, client.EventUnavailable, "unavailable", nil).Frame
	if un.ConversationID != conv || un.Reason != "no_agents" || un.EmailReplies == nil || *un.EmailReplies {
		t.Errorf("unavailable = %+v, want conversation %s, no_agents, email_replies present and false (no SMTP)", un, conv)
	}
	pos := waitEvent(t, sr, client.EventPosition, "position", nil).Frame
	if pos.ConversationID != conv || pos.Position != 1 {
		t.Errorf("position = %+v, want 1 in %s", pos, conv)
	}
	if err := shop.SetEmail("ann@example.test"); err != nil {
		t.Fatal(err)
	}
	if f := waitEvent(t, sr, client.EventEmailSaved, "email_saved", nil).Frame; f.Status != "ann@example.test" {
		t.Errorf("email_saved status = %q", f.Status)
	}

	// An announcement reaches the shopper; seen is answered only when refused.
	var ann struct{ ID string }
	postJSON(t, srv.URL+"/api/announcements", admin.AccessToken, map[string]any{"text": "Sale", "level": "promotion",
		"link": "https://shop.example/sale"}, &ann)
	if f := waitEvent(t, sr, client.EventAnnouncement, "announcement", nil).Frame; f.Announcement == nil ||
		f.Announcement.ID != ann.ID || f.Announcement.Text != "Sale" || f.Announcement.Level != models.LevelPromotion || f.Announcement.SentAt == nil {
		t.Errorf("announcement = %+v, want %s", f.Announcement, ann.ID)
	}
	if err := shop.Seen(ann.ID); err != nil {
		t.Fatal(err)
	}
	if err := shop.Seen("no-such-announcement"); err != nil {
		t.Fatal(err)
	}
	if f := waitEvent(t, sr, client.EventError, "error for an unknown announcement", nil).Frame; f.Code != models.ENOTFOUND || f.Ref != "no-such-announcement" {
		t.Errorf("error = %+v, want not_found about no-such-announcement", f)
	}

	// An agent comes online and gets the conversation: welcome, queue,
	// conversation, messages (its sync), the announcement.
	agent, _ := MustAgent(t, srv, srv.URL, "li@shop.test", client.AgentOptions{Options: opts})
	ar := record(agent)
	waitEvent(t, ar, client.EventConversation, "the assignment", func(f *wire.ServerFrame) bool {
		return f.Conversation != nil && f.Conversation.ID == conv && f.Conversation.Status == models.StatusAssigned
	})
	waitFor(t, 20*time.Second, "the agent to sync the first message", func() bool { return agent.LastSeq(conv) == 1 })
	waitEvent(t, ar, client.EventQueue, "queue", nil)
	waitEvent(t, ar, client.EventAnnouncement, "the announcement, for the agent", nil)

	send(t, agent, conv, "Here now.")
	if err := agent.Typing(conv); err != nil {
		t.Fatal(err)
	}
	if f := waitEvent(t, sr, client.EventTyping, "the agent typing", nil).Frame; f.ConversationID != conv || f.SenderKind != models.SenderAgent || f.SenderName != "Agent li@shop.test" {
		t.Errorf("typing = %+v", f)
	}
	if err := shop.Read(conv, 2); err != nil {
		t.Fatal(err)
	}
	if f := waitEvent(t, ar, client.EventRead, "the shopper's read mark", nil).Frame; f.ConversationID != conv || f.SenderKind != models.SenderVisitor || f.Seq != 2 {
		t.Errorf("read = %+v", f)
	}
	if err := agent.SetStatus("away"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ar, client.EventStatus, "status away", func(f *wire.ServerFrame) bool { return f.Status == "away" })
	if err := agent.SetStatus("online"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ar, client.EventStatus, "status online", func(f *wire.ServerFrame) bool { return f.Status == "online" })

	fresh, err := client.Login(ctx, srv.URL, "li@shop.test", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Auth(fresh.AccessToken); err != nil {
		t.Fatal(err)
	}
	if f := waitEvent(t, ar, client.EventAuthOK, "auth_ok", nil).Frame; f.ExpiresAt == nil || !f.ExpiresAt.Equal(fresh.ExpiresAt) {
		t.Errorf("auth_ok expires_at = %v, want %v", f.ExpiresAt, fresh.ExpiresAt)
	}

	// A transfer to a second agent, with a note.
	second, a2 := MustAgent(t, srv, srv.URL, "ana@shop.test", client.AgentOptions{Options: opts})
	r2 := record(second)
	if err := agent.Transfer(conv, a2.ID, "", "Wants a refund"); err != nil {
		t.Fatal(err)
	}
	tr := waitEvent(t, r2, client.EventTransfer, "transfer", nil).Frame
	if tr.ConversationID != conv || tr.Transfer == nil || tr.Transfer.Note != "Wants a refund" || tr.Transfer.ToAgentID != a2.ID ||
		tr.Conversation == nil || tr.Conversation.AgentID != a2.ID {
		t.Errorf("transfer = %+v (%+v)", tr, tr.Transfer)
	}
	waitFor(t, 20*time.Second, "the new agent to sync the conversation", func() bool { return second.LastSeq(conv) >= 2 })

	postJSON(t, srv.URL+"/api/announcements/"+ann.ID+"/withdraw", admin.AccessToken, nil, nil)
	for _, r := range []*recorder{sr, ar, r2} {
		if f := waitEvent(t, r, client.EventAnnouncementWithdrawn, "the withdrawal", nil).Frame; f.AnnouncementID != ann.ID || f.Reason != "withdrawn" {
			t.Errorf("announcement_withdrawn = %+v", f)
		}
	}
	// Last: a frame that must be answered, so everything before it has
	// been received.
	if err := shop.SetEmail("not an address"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, sr, client.EventError, "the refused address", func(f *wire.ServerFrame) bool { return f.Code == models.EINVALID && f.Ref == wire.TypeEmail })

	frames := raw.all()
	docs := documentedServerFrames(t)
	seen := map[string]bool{}
	for _, data := range frames {
		var f wire.ServerFrame
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("frame %s does not decode: %v", data, err)
		}
		seen[f.Type] = true
		again, _ := json.Marshal(f)
		var want, got map[string]any
		_ = json.Unmarshal(data, &want)
		_ = json.Unmarshal(again, &got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s frame loses fields in wire.ServerFrame:\n got  %s\n sent %s", f.Type, again, data)
		}
		doc, ok := docs[f.Type]
		if !ok {
			t.Errorf("the server sent a %q frame, which docs/protocol.md does not list", f.Type)
			continue
		}
		if f.Type == wire.TypeWelcome {
			continue // described field by field above the table
		}
		for key, val := range want {
			if key == "type" {
				continue
			}
			nested, documented := doc[key]
			if !documented {
				t.Errorf("%s frame: field %q is not documented", f.Type, key)
				continue
			}
			obj, isObj := val.(map[string]any)
			if !isObj || nested == nil {
				continue
			}
			for k := range obj {
				if !nested[k] {
					t.Errorf("%s frame: field %s.%s is not documented", f.Type, key, k)
				}
			}
		}
	}
	tags := jsonFields(reflect.TypeOf(wire.ServerFrame{}))
	var missing []string
	for typ, fields := range docs {
		if !seen[typ] {
			missing = append(missing, typ)
		}
		for name, nested := range fields {
			ft, ok := tags[name]
			if !ok {
				t.Errorf("docs/protocol.md: %s frame field %q is not in wire.ServerFrame", typ, name)
				continue
			}
			inner := jsonFields(ft)
			for k := range nested {
				if _, ok := inner[k]; !ok {
					t.Errorf("docs/protocol.md: %s frame field %s.%s is not in wire.ServerFrame", typ, name, k)
				}
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("documented frame types the test did not get: %v", missing)
	}
}

// documentedServerFrames reads the table "Frames the server sends" in
// docs/protocol.md: for each frame type, its fields, and for fields given
// as {…} objects, the object's fields.
func documentedServerFrames(tb testing.TB) map[string]map[string]map[string]bool {
	tb.Helper()
	b, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		tb.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "## Frames the server sends")
	if !ok {
		tb.Fatal(`docs/protocol.md has no "Frames the server sends" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var (
		name   = regexp.MustCompile("`([a-z_]+)`")
		field  = regexp.MustCompile("`([a-z_]+)`(: \\{([^}]*)\\})?")
		parens = regexp.MustCompile(`\([^()]*\)`)
	)
	out := map[string]map[string]map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 5 {
			continue
		}
		m := name.FindStringSubmatch(cells[1])
		if m == nil {
			continue // header or rule
		}
		fields := map[string]map[string]bool{}
		text := cells[3]
		for parens.MatchString(text) {
			text = parens.ReplaceAllString(text, "") // notes and enumerated values
		}
		for _, f := range field.FindAllStringSubmatch(text, -1) {
			var nested map[string]bool
			if f[3] != "" {
				nested = map[string]bool{}
				for _, n := range name.FindAllStringSubmatch(f[3], -1) {
					nested[n[1]] = true
				}
			}
			fields[f[1]] = nested
		}
		out[m[1]] = fields
	}
	if len(out) < 10 {
		tb.Fatalf("read only %d frame types from docs/protocol.md", len(out))
	}
	return out
}

// jsonFields maps the JSON names of a struct's fields (through pointers and
// slices) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	out := map[string]reflect.Type{}
	if t.Kind() != reflect.Struct {
		return out
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		n, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if n != "" && n != "-" {
			out[n] = f.Type
		}
	}
	return out
}
