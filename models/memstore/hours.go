package memstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/kefu-chat/kefu/models"
)

func copyHours(h *models.BusinessHours) *models.BusinessHours {
	c := *h
	c.Weekly = slices.Clone(h.Weekly)
	c.ClosedDates = slices.Clone(h.ClosedDates)
	return &c
}

// SetBusinessHours implements models.HoursStore.
func (s *Store) SetBusinessHours(_ context.Context, h *models.BusinessHours, now time.Time) error {
	if err := h.Normalize(); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	rs := s.routing()
	if h.DepartmentID != "" {
		if _, ok := rs.departments[h.DepartmentID]; !ok {
			return models.Errorf(models.ENOTFOUND, "department not found")
		}
	}
	// Stored times are truncated as the databases keep them.
	h.UpdatedAt = now.UTC().Truncate(time.Microsecond)
	if rs.hours == nil {
		rs.hours = map[string]*models.BusinessHours{}
	}
	rs.hours[h.DepartmentID] = copyHours(h)
	return nil
}

// BusinessHours implements models.HoursStore.
func (s *Store) BusinessHours(_ context.Context, departmentID string) (*models.BusinessHours, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	h, ok := s.routing().hours[departmentID]
	if !ok {
		return nil, models.Errorf(models.ENOTFOUND, "no business hours set")
	}
	return copyHours(h), nil
}

// AllBusinessHours implements models.HoursStore.
func (s *Store) AllBusinessHours(context.Context) ([]*models.BusinessHours, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]*models.BusinessHours, 0, len(s.routing().hours))
	for _, h := range s.routing().hours {
		out = append(out, copyHours(h))
	}
	slices.SortFunc(out, func(a, b *models.BusinessHours) int { return strings.Compare(a.DepartmentID, b.DepartmentID) })
	return out, nil
}

// DeleteBusinessHours implements models.HoursStore.
func (s *Store) DeleteBusinessHours(_ context.Context, departmentID string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.routing().hours[departmentID]; !ok {
		return models.Errorf(models.ENOTFOUND, "no business hours set")
	}
	delete(s.routing().hours, departmentID)
	return nil
}
