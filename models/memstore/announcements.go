package memstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/kefu-chat/kefu/models"
)

// announcements is the memory store's share of announcement state, guarded
// by Store.mu like everything else.
type announcements struct {
	byID  map[string]*models.Announcement
	byKey map[[2]string]string // (creator, idempotency key) → id
	seen  map[[2]string]bool   // (announcement, visitor)
}

func (s *Store) ann() *announcements {
	if s.anns == nil {
		s.anns = &announcements{byID: map[string]*models.Announcement{}, byKey: map[[2]string]string{}, seen: map[[2]string]bool{}}
	}
	return s.anns
}

func copyAnn(a *models.Announcement) *models.Announcement {
	c := *a
	for _, p := range []**time.Time{&c.StartsAt, &c.ExpiresAt, &c.SentAt, &c.EndedAt} {
		if *p != nil {
			t := **p
			*p = &t
		}
	}
	if c.IdempotencyKey != nil {
		k := *c.IdempotencyKey
		c.IdempotencyKey = &k
	}
	return &c
}

func utcCopy(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// CreateAnnouncement stores a, or returns the one stored under the same
// creator and idempotency key.
func (s *Store) CreateAnnouncement(ctx context.Context, a *models.Announcement) (*models.Announcement, bool, error) {
	if err := a.Validate(); err != nil {
		return nil, false, err
	}
	if err := s.lock(); err != nil {
		return nil, false, err
	}
	defer s.mu.Unlock()
	st := s.ann()
	row := copyAnn(a)
	if row.IdempotencyKey != nil && *row.IdempotencyKey == "" {
		row.IdempotencyKey = nil
	}
	if row.IdempotencyKey != nil {
		if id, ok := st.byKey[[2]string{row.CreatedBy, *row.IdempotencyKey}]; ok {
			return copyAnn(st.byID[id]), true, nil
		}
	}
	if row.ID == "" {
		row.ID = uuid.NewString()
	}
	if _, dup := st.byID[row.ID]; dup {
		return nil, false, models.Errorf(models.ECONFLICT, "create announcement: already exists")
	}
	if row.CreatedAt.IsZero() {
		row.CreatedAt = time.Now()
	}
	row.CreatedAt = row.CreatedAt.UTC()
	row.StartsAt, row.ExpiresAt = utcCopy(row.StartsAt), utcCopy(row.ExpiresAt)
	row.SentAt, row.EndedAt, row.EndReason, row.Delivered, row.Seen = nil, nil, "", 0, 0
	st.byID[row.ID] = row
	if row.IdempotencyKey != nil {
		st.byKey[[2]string{row.CreatedBy, *row.IdempotencyKey}] = row.ID
	}
	return copyAnn(row), false, nil
}

// Announcement returns the announcement with the id.
func (s *Store) Announcement(ctx context.Context, id string) (*models.Announcement, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	a, ok := s.ann().byID[id]
	if !ok {
		return nil, models.Errorf(models.ENOTFOUND, "announcement: not found")
	}
	return copyAnn(a), nil
}

func (s *Store) sortedAnns(keep func(*models.Announcement) bool) []*models.Announcement {
	var out []*models.Announcement
	for _, a := range s.ann().byID {
		if keep(a) {
			out = append(out, copyAnn(a))
		}
	}
	slices.SortFunc(out, func(x, y *models.Announcement) int {
		return cmp.Or(x.CreatedAt.Compare(y.CreatedAt), cmp.Compare(x.ID, y.ID))
	})
	return out
}

// Announcements lists announcements, newest created first.
func (s *Store) Announcements(ctx context.Context, limit int) ([]*models.Announcement, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 500)
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := s.sortedAnns(func(*models.Announcement) bool { return true })
	slices.Reverse(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// LiveAnnouncements returns the announcements that have not ended.
func (s *Store) LiveAnnouncements(ctx context.Context) ([]*models.Announcement, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return s.sortedAnns(func(a *models.Announcement) bool { return a.EndedAt == nil }), nil
}

// MarkAnnouncementSent sets SentAt if it is unset and the announcement has
// not ended.
func (s *Store) MarkAnnouncementSent(ctx context.Context, id string, now time.Time) (*models.Announcement, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	a, ok := s.ann().byID[id]
	if !ok {
		return nil, models.Errorf(models.ENOTFOUND, "announcement: not found")
	}
	if a.SentAt != nil || a.EndedAt != nil {
		return nil, models.Errorf(models.ECONFLICT, "the announcement was already sent or has ended")
	}
	a.SentAt = utcCopy(&now)
	return copyAnn(a), nil
}

// EndAnnouncement ends an announcement that has not ended.
func (s *Store) EndAnnouncement(ctx context.Context, id, reason string, now time.Time) (*models.Announcement, error) {
	if reason != models.EndWithdrawn && reason != models.EndExpired {
		return nil, models.Errorf(models.EINVALID, "end reason must be %q or %q", models.EndWithdrawn, models.EndExpired)
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	a, ok := s.ann().byID[id]
	if !ok {
		return nil, models.Errorf(models.ENOTFOUND, "announcement: not found")
	}
	if a.EndedAt != nil {
		return nil, models.Errorf(models.ECONFLICT, "the announcement has already ended")
	}
	a.EndedAt, a.EndReason = utcCopy(&now), reason
	return copyAnn(a), nil
}

// AddAnnouncementDeliveries adds n to Delivered.
func (s *Store) AddAnnouncementDeliveries(ctx context.Context, id string, n int64) error {
	if n < 0 {
		return models.Errorf(models.EINVALID, "deliveries must not be negative")
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if a, ok := s.ann().byID[id]; ok {
		a.Delivered += n
	}
	return nil
}

// MarkAnnouncementSeen counts the visitor once.
func (s *Store) MarkAnnouncementSeen(ctx context.Context, id, visitorID string, now time.Time) (bool, error) {
	if visitorID == "" {
		return false, models.Errorf(models.EINVALID, "a visitor is required")
	}
	if err := s.lock(); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	st := s.ann()
	a, ok := st.byID[id]
	if !ok {
		return false, models.Errorf(models.ENOTFOUND, "no such announcement")
	}
	k := [2]string{id, visitorID}
	if st.seen[k] {
		return false, nil
	}
	st.seen[k] = true
	a.Seen++
	return true, nil
}
