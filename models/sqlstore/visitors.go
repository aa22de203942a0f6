package sqlstore

import (
	"context"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/kefu-chat/kefu/models"
)

// CreateVisitor stores a new visitor.
func (s *Store) CreateVisitor(ctx context.Context, v *models.Visitor) error {
	if v.TokenHash == "" {
		return models.Errorf(models.EINVALID, "a visitor needs a token hash")
	}
	if v.ID == "" {
		v.ID = uuid.NewString()
	}
	now := time.Now().UTC()
	if v.CreatedAt.IsZero() {
		v.CreatedAt = now
	}
	if v.LastSeenAt.IsZero() {
		v.LastSeenAt = v.CreatedAt
	}
	v.CreatedAt, v.LastSeenAt = v.CreatedAt.UTC(), v.LastSeenAt.UTC()
	row := *v
	if err := s.tx(ctx, func(tx *gorm.DB) error { return tx.Create(&row).Error }); err != nil {
		return s.mapErr(err, "create visitor")
	}
	return nil
}

// Visitor returns the visitor with the id.
func (s *Store) Visitor(ctx context.Context, id string) (*models.Visitor, error) {
	var v models.Visitor
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&v).Error; err != nil {
		return nil, s.mapErr(err, "visitor")
	}
	return &v, nil
}

// VisitorByTokenHash returns the visitor whose token hashes to hash.
func (s *Store) VisitorByTokenHash(ctx context.Context, hash string) (*models.Visitor, error) {
	if hash == "" {
		return nil, models.Errorf(models.ENOTFOUND, "visitor: not found")
	}
	var v models.Visitor
	if err := s.db.WithContext(ctx).Where("token_hash = ?", hash).Take(&v).Error; err != nil {
		return nil, s.mapErr(err, "visitor")
	}
	return &v, nil
}

// UpdateVisitor applies the non-nil fields of u and sets LastSeenAt.
func (s *Store) UpdateVisitor(ctx context.Context, id string, u models.VisitorUpdate) (*models.Visitor, error) {
	now := u.Now
	if now.IsZero() {
		now = time.Now()
	}
	set := map[string]any{"last_seen_at": now.UTC()}
	for col, p := range map[string]*string{
		"page_url": u.PageURL, "page_title": u.PageTitle, "lang": u.Lang, "user_agent": u.UserAgent,
		"name": u.Name, "email": u.Email, "external_id": u.ExternalID,
	} {
		if p != nil {
			set[col] = *p
		}
	}
	if u.Verified != nil {
		set["verified"] = *u.Verified
	}
	var out models.Visitor
	err := s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&models.Visitor{}).Where("id = ?", id).Updates(set)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return models.Errorf(models.ENOTFOUND, "visitor not found")
		}
		return tx.Where("id = ?", id).Take(&out).Error
	})
	if err != nil {
		return nil, s.mapErr(err, "update visitor")
	}
	return &out, nil
}
