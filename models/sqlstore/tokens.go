package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/kefu-chat/kefu/models"
)

// CreateRefreshToken stores a new token, starting a family when FamilyID is
// empty.
func (s *Store) CreateRefreshToken(ctx context.Context, t *models.RefreshToken) error {
	if err := prepareToken(t, time.Now()); err != nil {
		return err
	}
	row := *t
	if err := s.tx(ctx, func(tx *gorm.DB) error { return tx.Create(&row).Error }); err != nil {
		return s.mapErr(err, "create refresh token")
	}
	return nil
}

func prepareToken(t *models.RefreshToken, now time.Time) error {
	if t.AgentID == "" || t.TokenHash == "" {
		return models.Errorf(models.EINVALID, "a refresh token needs an agent and a hash")
	}
	if t.ID == "" {
		t.ID = uuid.NewString()
	}
	if t.FamilyID == "" {
		t.FamilyID = t.ID
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now
	}
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	return nil
}

// RotateRefreshToken consumes the token with oldHash and stores next in its
// family. The token row is read under the write lock (FOR UPDATE on
// PostgreSQL, the immediate transaction on SQLite), so of concurrent
// rotations exactly one sees it unused; the others see it used, which is
// what a replayed stolen token looks like, and revoke the family.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, next *models.RefreshToken, now time.Time) (*models.RefreshToken, error) {
	if oldHash == "" {
		return nil, models.Errorf(models.EUNAUTHORIZED, "unknown refresh token")
	}
	now = now.UTC()
	var (
		old    models.RefreshToken
		reused bool
	)
	err := s.tx(ctx, func(tx *gorm.DB) error {
		reused = false
		if err := s.forUpdate(tx).Where("token_hash = ?", oldHash).Take(&old).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return models.Errorf(models.EUNAUTHORIZED, "unknown refresh token")
			}
			return err
		}
		if old.RevokedAt != nil {
			return models.Errorf(models.EUNAUTHORIZED, "refresh token revoked")
		}
		if old.UsedAt != nil {
			reused = true
			// Commit the revocation: returning an error here would roll it back.
			return revokeFamily(tx, old.FamilyID, now)
		}
		if !now.Before(old.ExpiresAt) {
			return models.Errorf(models.EUNAUTHORIZED, "refresh token expired")
		}
		res := tx.Model(&models.RefreshToken{}).
			Where("id = ? AND used_at IS NULL AND revoked_at IS NULL", old.ID).
			Update("used_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return models.Errorf(models.EUNAUTHORIZED, "refresh token already used")
		}
		old.UsedAt = &now
		n := *next
		n.FamilyID = old.FamilyID
		if n.CreatedAt.IsZero() {
			n.CreatedAt = now
		}
		if n.AgentID == "" {
			n.AgentID = old.AgentID
		}
		if n.TokenVersion == 0 {
			n.TokenVersion = old.TokenVersion
		}
		if err := prepareToken(&n, now); err != nil {
			return err
		}
		if err := tx.Create(&n).Error; err != nil {
			return err
		}
		*next = n
		return nil
	})
	if err != nil {
		return nil, s.mapErr(err, "rotate refresh token")
	}
	if reused {
		s.logger.WarnContext(ctx, "sqlstore: refresh token reused; family revoked", "family", old.FamilyID, "agent", old.AgentID)
		return nil, models.Errorf(models.EUNAUTHORIZED, "refresh token already used")
	}
	return &old, nil
}

func revokeFamily(tx *gorm.DB, family string, now time.Time) error {
	return tx.Model(&models.RefreshToken{}).
		Where("family_id = ? AND revoked_at IS NULL", family).
		Update("revoked_at", now).Error
}

// RevokeRefreshFamily revokes the family of the token with hash.
func (s *Store) RevokeRefreshFamily(ctx context.Context, hash string, now time.Time) error {
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var t models.RefreshToken
		err := tx.Where("token_hash = ?", hash).Take(&t).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return revokeFamily(tx, t.FamilyID, now.UTC())
	})
	return s.mapErr(err, "revoke refresh tokens")
}
