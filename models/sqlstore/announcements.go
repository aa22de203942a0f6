package sqlstore

import (
	"context"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kefu-chat/kefu/models"
)

// CreateAnnouncement stores a new announcement, or returns the one stored
// earlier by the same creator under the same idempotency key. The insert
// ignores a conflict on the (creator, key) index and the row is then read
// back, so two racing creates with one key store exactly one row and both
// return it.
func (s *Store) CreateAnnouncement(ctx context.Context, a *models.Announcement) (*models.Announcement, bool, error) {
	if err := a.Validate(); err != nil {
		return nil, false, err
	}
	if a.IdempotencyKey != nil && *a.IdempotencyKey == "" {
		a.IdempotencyKey = nil
	}
	row := prepareAnnouncement(*a, time.Now())
	if row.IdempotencyKey == nil {
		if err := s.tx(ctx, func(tx *gorm.DB) error { return tx.Create(&row).Error }); err != nil {
			return nil, false, s.mapErr(err, "create announcement")
		}
		return &row, false, nil
	}
	var got models.Announcement
	existed := false
	err := s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
		if res.Error != nil || res.RowsAffected == 1 {
			got, existed = row, false
			return res.Error
		}
		existed = true
		return tx.Where("created_by = ? AND idempotency_key = ?", row.CreatedBy, *row.IdempotencyKey).Take(&got).Error
	})
	if err != nil {
		return nil, false, s.mapErr(err, "create announcement")
	}
	return &got, existed, nil
}

// prepareAnnouncement fills the ID and CreatedAt and clears what only the
// store sets, with every time in UTC.
func prepareAnnouncement(a models.Announcement, now time.Time) models.Announcement {
	if a.ID == "" {
		a.ID = uuid.NewString()
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now
	}
	a.CreatedAt = a.CreatedAt.UTC()
	a.StartsAt, a.ExpiresAt = utcPtr(a.StartsAt), utcPtr(a.ExpiresAt)
	a.SentAt, a.EndedAt, a.EndReason, a.Delivered, a.Seen = nil, nil, "", 0, 0
	return a
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// Announcement returns the announcement with the id.
func (s *Store) Announcement(ctx context.Context, id string) (*models.Announcement, error) {
	var a models.Announcement
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&a).Error; err != nil {
		return nil, s.mapErr(err, "announcement")
	}
	return &a, nil
}

// Announcements lists announcements, newest created first.
func (s *Store) Announcements(ctx context.Context, limit int) ([]*models.Announcement, error) {
	if limit <= 0 {
		limit = 100
	}
	if limit > 500 {
		limit = 500
	}
	var as []*models.Announcement
	if err := s.db.WithContext(ctx).Order("created_at DESC, id DESC").Limit(limit).Find(&as).Error; err != nil {
		return nil, s.mapErr(err, "announcements")
	}
	return as, nil
}

// LiveAnnouncements returns the announcements that have not ended.
func (s *Store) LiveAnnouncements(ctx context.Context) ([]*models.Announcement, error) {
	var as []*models.Announcement
	if err := s.db.WithContext(ctx).Where("ended_at IS NULL").Order("created_at, id").Find(&as).Error; err != nil {
		return nil, s.mapErr(err, "live announcements")
	}
	return as, nil
}

// MarkAnnouncementSent sets SentAt with one conditional UPDATE, which is
// what lets only one of several schedulers send.
func (s *Store) MarkAnnouncementSent(ctx context.Context, id string, now time.Time) (*models.Announcement, error) {
	now = now.UTC()
	var out *models.Announcement
	err := s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&models.Announcement{}).Where("id = ? AND sent_at IS NULL AND ended_at IS NULL", id).Update("sent_at", now)
		if res.Error != nil {
			return res.Error
		}
		var a models.Announcement
		if err := tx.Where("id = ?", id).Take(&a).Error; err != nil {
			return err
		}
		if res.RowsAffected == 0 {
			return models.Errorf(models.ECONFLICT, "the announcement was already sent or has ended")
		}
		out = &a
		return nil
	})
	if err != nil {
		return nil, s.mapErr(err, "announcement")
	}
	return out, nil
}

// EndAnnouncement sets EndedAt and EndReason with one conditional UPDATE.
func (s *Store) EndAnnouncement(ctx context.Context, id, reason string, now time.Time) (*models.Announcement, error) {
	if reason != models.EndWithdrawn && reason != models.EndExpired {
		return nil, models.Errorf(models.EINVALID, "end reason must be %q or %q", models.EndWithdrawn, models.EndExpired)
	}
	now = now.UTC()
	var out *models.Announcement
	err := s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&models.Announcement{}).Where("id = ? AND ended_at IS NULL", id).
			Updates(map[string]any{"ended_at": now, "end_reason": reason})
		if res.Error != nil {
			return res.Error
		}
		var a models.Announcement
		if err := tx.Where("id = ?", id).Take(&a).Error; err != nil {
			return err
		}
		if res.RowsAffected == 0 {
			return models.Errorf(models.ECONFLICT, "the announcement has already ended")
		}
		out = &a
		return nil
	})
	if err != nil {
		return nil, s.mapErr(err, "announcement")
	}
	return out, nil
}

// AddAnnouncementDeliveries adds n to Delivered in one UPDATE.
func (s *Store) AddAnnouncementDeliveries(ctx context.Context, id string, n int64) error {
	if n < 0 {
		return models.Errorf(models.EINVALID, "deliveries must not be negative")
	}
	if n == 0 {
		return nil
	}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		return tx.Model(&models.Announcement{}).Where("id = ?", id).
			Update("delivered", gorm.Expr("delivered + ?", n)).Error
	})
	return s.mapErr(err, "count deliveries")
}

// MarkAnnouncementSeen inserts the (announcement, visitor) pair, ignoring a
// duplicate, and raises Seen in the same transaction only if it inserted.
func (s *Store) MarkAnnouncementSeen(ctx context.Context, id, visitorID string, now time.Time) (bool, error) {
	if visitorID == "" {
		return false, models.Errorf(models.EINVALID, "a visitor is required")
	}
	counted := false
	err := s.tx(ctx, func(tx *gorm.DB) error {
		counted = false
		var n int64
		if err := tx.Model(&models.Announcement{}).Where("id = ?", id).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return models.Errorf(models.ENOTFOUND, "no such announcement")
		}
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&models.AnnouncementSeen{AnnouncementID: id, VisitorID: visitorID, CreatedAt: now.UTC()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return nil
		}
		counted = true
		return tx.Model(&models.Announcement{}).Where("id = ?", id).Update("seen", gorm.Expr("seen + 1")).Error
	})
	if err != nil {
		return false, s.mapErr(err, "mark announcement seen")
	}
	return counted, nil
}
