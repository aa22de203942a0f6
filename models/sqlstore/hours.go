package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kefu-chat/kefu/models"
)

// businessHoursRow is one schedule as stored: the spans and closed dates
// are JSON text, since they are always read and written whole. Scope is
// the department's ID, or "" for the shop's own hours.
type businessHoursRow struct {
	Scope       string `gorm:"primaryKey;size:36"`
	TimeZone    string `gorm:"size:64;not null"`
	Weekly      string `gorm:"type:text;not null"`
	ClosedDates string `gorm:"type:text;not null"`
	UpdatedAt   time.Time
}

func (businessHoursRow) TableName() string { return "business_hours" }

func (r *businessHoursRow) hours() (*models.BusinessHours, error) {
	h := &models.BusinessHours{DepartmentID: r.Scope, TimeZone: r.TimeZone, UpdatedAt: r.UpdatedAt}
	if err := json.Unmarshal([]byte(r.Weekly), &h.Weekly); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(r.ClosedDates), &h.ClosedDates); err != nil {
		return nil, err
	}
	if err := h.Normalize(); err != nil {
		return nil, err // stored only after Normalize: a corrupt row
	}
	return h, nil
}

// SetBusinessHours implements models.HoursStore.
func (s *Store) SetBusinessHours(ctx context.Context, h *models.BusinessHours, now time.Time) error {
	if err := h.Normalize(); err != nil {
		return err
	}
	weekly, err := json.Marshal(h.Weekly)
	if err != nil {
		return models.Internal(err, "encode business hours")
	}
	dates, err := json.Marshal(h.ClosedDates)
	if err != nil {
		return models.Internal(err, "encode business hours")
	}
	row := businessHoursRow{Scope: h.DepartmentID, TimeZone: h.TimeZone, Weekly: string(weekly),
		ClosedDates: string(dates), UpdatedAt: now.UTC()}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		if h.DepartmentID != "" {
			// Lock the department so that a concurrent delete either runs
			// first (ENOTFOUND here) or waits and removes this row too.
			var d models.Department
			if err := s.forUpdate(tx).Where("id = ?", h.DepartmentID).Take(&d).Error; err != nil {
				if errors.Is(err, gorm.ErrRecordNotFound) {
					return models.Errorf(models.ENOTFOUND, "department not found")
				}
				return err
			}
		}
		return tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "scope"}},
			DoUpdates: clause.AssignmentColumns([]string{"time_zone", "weekly", "closed_dates", "updated_at"})}).
			Create(&row).Error
	})
	if err != nil {
		return s.mapErr(err, "set business hours")
	}
	h.UpdatedAt = row.UpdatedAt
	return nil
}

// BusinessHours implements models.HoursStore.
func (s *Store) BusinessHours(ctx context.Context, departmentID string) (*models.BusinessHours, error) {
	var row businessHoursRow
	if err := s.db.WithContext(ctx).Where("scope = ?", departmentID).Take(&row).Error; err != nil {
		return nil, s.mapErr(err, "business hours")
	}
	h, err := row.hours()
	if err != nil {
		return nil, models.Internal(err, "read business hours")
	}
	return h, nil
}

// AllBusinessHours implements models.HoursStore.
func (s *Store) AllBusinessHours(ctx context.Context) ([]*models.BusinessHours, error) {
	var rows []businessHoursRow
	if err := s.db.WithContext(ctx).Order("scope").Find(&rows).Error; err != nil {
		return nil, s.mapErr(err, "business hours")
	}
	out := make([]*models.BusinessHours, 0, len(rows))
	for i := range rows {
		h, err := rows[i].hours()
		if err != nil {
			return nil, models.Internal(err, "read business hours")
		}
		out = append(out, h)
	}
	return out, nil
}

// DeleteBusinessHours implements models.HoursStore.
func (s *Store) DeleteBusinessHours(ctx context.Context, departmentID string) error {
	defer s.lockWrites()()
	res := s.db.WithContext(ctx).Where("scope = ?", departmentID).Delete(&businessHoursRow{})
	if res.Error != nil {
		return s.mapErr(res.Error, "delete business hours")
	}
	if res.RowsAffected == 0 {
		return models.Errorf(models.ENOTFOUND, "no business hours set")
	}
	return nil
}
