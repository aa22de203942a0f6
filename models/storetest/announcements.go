package storetest

import (
	"context"
	"sync"
	"testing"

	"github.com/kefu-chat/kefu/models"
)

// announcementStore is what the announcement tests need; models.Store
// embeds it.
type announcementStore interface {
	models.AgentStore
	models.VisitorStore
	models.AnnouncementStore
}

// MustCreateAnnouncement stores a (filling in text, level and the creator
// when missing) and returns it as stored.
func MustCreateAnnouncement(tb testing.TB, s models.AnnouncementStore, a models.Announcement) *models.Announcement {
	tb.Helper()
	if a.Text == "" {
		a.Text = "Flash sale: 20% off everything today"
	}
	if a.Level == "" {
		a.Level = models.LevelInfo
	}
	if a.CreatedBy == "" {
		a.CreatedBy = RandomHex(8)
	}
	got, _, err := s.CreateAnnouncement(context.Background(), &a)
	if err != nil {
		tb.Fatalf("CreateAnnouncement: %v", err)
	}
	return got
}

func testAnnouncementCreate(t *testing.T, st models.Store) {
	s := announcementStore(st)
	ctx := t.Context()
	admin := MustCreateAgent(t, st, models.Agent{Role: models.RoleAdmin})

	t.Run("invalid", func(t *testing.T) {
		start, end := At(1000), At(500)
		for _, tc := range []struct {
			name string
			a    models.Announcement
			code models.Code
		}{
			{"no text", models.Announcement{Level: models.LevelInfo}, models.EINVALID},
			{"blank text", models.Announcement{Text: " \n", Level: models.LevelInfo}, models.EINVALID},
			{"text too long", models.Announcement{Text: string(make([]byte, models.MaxAnnouncementText+1)), Level: models.LevelInfo}, models.ETOOLARGE},
			{"bad level", models.Announcement{Text: "x", Level: "shout"}, models.EINVALID},
			{"no level", models.Announcement{Text: "x"}, models.EINVALID},
			{"javascript link", models.Announcement{Text: "x", Level: models.LevelInfo, Link: "javascript:alert(1)"}, models.EINVALID},
			{"relative link", models.Announcement{Text: "x", Level: models.LevelInfo, Link: "/sale"}, models.EINVALID},
			{"data link", models.Announcement{Text: "x", Level: models.LevelInfo, Link: "data:text/html,hi"}, models.EINVALID},
			{"expiry before start", models.Announcement{Text: "x", Level: models.LevelInfo, StartsAt: &start, ExpiresAt: &end}, models.EINVALID},
			{"invalid UTF-8", models.Announcement{Text: "\xff", Level: models.LevelInfo}, models.EINVALID},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a := tc.a
				a.CreatedBy = admin.ID
				_, _, err := s.CreateAnnouncement(ctx, &a)
				if got := models.ErrorCode(err); got != tc.code {
					t.Fatalf("code %q (%v), want %q", got, err, tc.code)
				}
			})
		}
		all, err := s.Announcements(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 0 {
			t.Fatalf("%d announcements stored by invalid creates, want 0", len(all))
		}
	})

	t.Run("stored", func(t *testing.T) {
		start, exp := At(1000), At(5000)
		in := models.Announcement{Text: "Shipping is delayed", Link: "https://shop.example/news", Level: models.LevelWarning,
			StartsAt: &start, ExpiresAt: &exp, PagePattern: "https://shop.example/*", Langs: "en,de", CreatedBy: admin.ID, CreatedAt: At(0)}
		got, existed, err := s.CreateAnnouncement(ctx, &in)
		if err != nil || existed {
			t.Fatalf("CreateAnnouncement: existed %v, %v", existed, err)
		}
		if got.ID == "" || got.SentAt != nil || got.EndedAt != nil || got.Delivered != 0 || got.Seen != 0 {
			t.Fatalf("new announcement %+v: want an ID, not sent, not ended, no counts", got)
		}
		back, err := s.Announcement(ctx, got.ID)
		if err != nil {
			t.Fatal(err)
		}
		if back.Text != in.Text || back.Link != in.Link || back.Level != in.Level || !back.StartsAt.Equal(start) ||
			!back.ExpiresAt.Equal(exp) || back.PagePattern != in.PagePattern || back.Langs != in.Langs ||
			back.CreatedBy != admin.ID || !back.CreatedAt.Equal(At(0)) {
			t.Fatalf("stored %+v, want the fields of %+v", back, in)
		}
		if _, err := s.Announcement(ctx, "no-such-id"); models.ErrorCode(err) != models.ENOTFOUND {
			t.Fatalf("unknown id: %v, want not_found", err)
		}
	})
}

func testAnnouncementIdempotency(t *testing.T, st models.Store) {
	s := announcementStore(st)
	ctx := t.Context()
	a1 := MustCreateAgent(t, st, models.Agent{Role: models.RoleAdmin})
	a2 := MustCreateAgent(t, st, models.Agent{Role: models.RoleAdmin})
	key := "retry-" + RandomHex(4)

	t.Run("sequential", func(t *testing.T) {
		first, existed, err := s.CreateAnnouncement(ctx, &models.Announcement{Text: "one", Level: models.LevelInfo, CreatedBy: a1.ID, IdempotencyKey: &key})
		if err != nil || existed {
			t.Fatalf("first: existed %v, %v", existed, err)
		}
		again, existed, err := s.CreateAnnouncement(ctx, &models.Announcement{Text: "two", Level: models.LevelInfo, CreatedBy: a1.ID, IdempotencyKey: &key})
		if err != nil || !existed || again.ID != first.ID || again.Text != "one" {
			t.Fatalf("retry: %+v existed %v err %v; want the first (%s) back", again, existed, err, first.ID)
		}
		other, existed, err := s.CreateAnnouncement(ctx, &models.Announcement{Text: "three", Level: models.LevelInfo, CreatedBy: a2.ID, IdempotencyKey: &key})
		if err != nil || existed || other.ID == first.ID {
			t.Fatalf("same key, other creator: existed %v err %v; want a new one", existed, err)
		}
		empty := ""
		for i := 0; i < 2; i++ {
			if _, existed, err := s.CreateAnnouncement(ctx, &models.Announcement{Text: "no key", Level: models.LevelInfo, CreatedBy: a1.ID, IdempotencyKey: &empty}); err != nil || existed {
				t.Fatalf("empty key #%d: existed %v, %v", i, existed, err)
			}
		}
		all, err := s.Announcements(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 4 {
			t.Fatalf("%d announcements, want 4", len(all))
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		key := "race-" + RandomHex(4)
		const n = 8
		ids := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, _, err := s.CreateAnnouncement(ctx, &models.Announcement{Text: "race", Level: models.LevelInfo, CreatedBy: a1.ID, IdempotencyKey: &key})
				errs[i] = err
				if err == nil {
					ids[i] = got.ID
				}
			}()
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("create #%d: %v", i, errs[i])
			}
			if ids[i] != ids[0] {
				t.Fatalf("create #%d got %s, #0 got %s: want one announcement", i, ids[i], ids[0])
			}
		}
	})
}

func testAnnouncementLifecycle(t *testing.T, st models.Store) {
	s := announcementStore(st)
	ctx := t.Context()
	admin := MustCreateAgent(t, st, models.Agent{Role: models.RoleAdmin})
	a := MustCreateAnnouncement(t, s, models.Announcement{CreatedBy: admin.ID, CreatedAt: At(0)})
	b := MustCreateAnnouncement(t, s, models.Announcement{CreatedBy: admin.ID, CreatedAt: At(1)})

	live, err := s.LiveAnnouncements(ctx)
	if err != nil || len(live) != 2 || live[0].ID != a.ID || live[1].ID != b.ID {
		t.Fatalf("LiveAnnouncements = %v, %v; want [a b] oldest first", annIDs(live), err)
	}
	sent, err := s.MarkAnnouncementSent(ctx, a.ID, At(10))
	if err != nil || sent.SentAt == nil || !sent.SentAt.Equal(At(10)) {
		t.Fatalf("MarkAnnouncementSent: %+v, %v", sent, err)
	}
	if !sent.Active(At(11)) {
		t.Fatalf("sent announcement not active")
	}
	if _, err := s.MarkAnnouncementSent(ctx, a.ID, At(20)); models.ErrorCode(err) != models.ECONFLICT {
		t.Fatalf("second send: %v, want conflict", err)
	}
	if _, err := s.MarkAnnouncementSent(ctx, "nope", At(20)); models.ErrorCode(err) != models.ENOTFOUND {
		t.Fatalf("send unknown: %v, want not_found", err)
	}
	if _, err := s.EndAnnouncement(ctx, a.ID, "bored", At(30)); models.ErrorCode(err) != models.EINVALID {
		t.Fatalf("bad reason: %v, want invalid", err)
	}
	ended, err := s.EndAnnouncement(ctx, a.ID, models.EndWithdrawn, At(30))
	if err != nil || ended.EndedAt == nil || !ended.EndedAt.Equal(At(30)) || ended.EndReason != models.EndWithdrawn || ended.Active(At(31)) {
		t.Fatalf("EndAnnouncement: %+v, %v", ended, err)
	}
	if _, err := s.EndAnnouncement(ctx, a.ID, models.EndExpired, At(40)); models.ErrorCode(err) != models.ECONFLICT {
		t.Fatalf("second end: %v, want conflict", err)
	}
	if _, err := s.EndAnnouncement(ctx, "nope", models.EndExpired, At(40)); models.ErrorCode(err) != models.ENOTFOUND {
		t.Fatalf("end unknown: %v, want not_found", err)
	}
	// b ends before it was ever sent: it may not be sent afterwards.
	if _, err := s.EndAnnouncement(ctx, b.ID, models.EndWithdrawn, At(50)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkAnnouncementSent(ctx, b.ID, At(60)); models.ErrorCode(err) != models.ECONFLICT {
		t.Fatalf("send after end: %v, want conflict", err)
	}
	live, err = s.LiveAnnouncements(ctx)
	if err != nil || len(live) != 0 {
		t.Fatalf("LiveAnnouncements after ending both = %v, %v; want none", annIDs(live), err)
	}
	hist, err := s.Announcements(ctx, 1)
	if err != nil || len(hist) != 1 || hist[0].ID != b.ID {
		t.Fatalf("Announcements(1) = %v, %v; want [b], the newest", annIDs(hist), err)
	}
}

func testAnnouncementCounts(t *testing.T, st models.Store) {
	s := announcementStore(st)
	ctx := t.Context()
	admin := MustCreateAgent(t, st, models.Agent{Role: models.RoleAdmin})
	a := MustCreateAnnouncement(t, s, models.Announcement{CreatedBy: admin.ID})
	v1, v2 := MustCreateVisitor(t, st, models.Visitor{}), MustCreateVisitor(t, st, models.Visitor{})

	if err := s.AddAnnouncementDeliveries(ctx, a.ID, 5); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAnnouncementDeliveries(ctx, a.ID, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAnnouncementDeliveries(ctx, "nope", 2); err != nil {
		t.Fatalf("deliveries to an unknown id: %v, want nil", err)
	}
	if err := s.AddAnnouncementDeliveries(ctx, a.ID, -1); models.ErrorCode(err) != models.EINVALID {
		t.Fatalf("negative deliveries: %v, want invalid", err)
	}
	var wg sync.WaitGroup
	counted := make([]bool, 6)
	errs := make([]error, 6)
	for i := range 6 {
		v := v1
		if i%2 == 1 {
			v = v2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			counted[i], errs[i] = s.MarkAnnouncementSeen(ctx, a.ID, v.ID, At(i))
		}()
	}
	wg.Wait()
	n := 0
	for i := range 6 {
		if errs[i] != nil {
			t.Fatalf("MarkAnnouncementSeen #%d: %v", i, errs[i])
		}
		if counted[i] {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d seen calls counted, want 2 (one per visitor)", n)
	}
	if _, err := s.MarkAnnouncementSeen(ctx, "nope", v1.ID, At(9)); models.ErrorCode(err) != models.ENOTFOUND {
		t.Fatalf("seen unknown: %v, want not_found", err)
	}
	got, err := s.Announcement(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Delivered != 7 || got.Seen != 2 {
		t.Fatalf("delivered %d, seen %d; want 7 and 2", got.Delivered, got.Seen)
	}
}

func annIDs(as []*models.Announcement) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}
