package handlers

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kefu-chat/kefu/models"
)

// hoursRoutes are the business-hours endpoints (docs/api.md): anyone
// logged in may read them, admins change them.
func (s *Server) hoursRoutes(authed fiber.Router) {
	authed.Get("/business-hours", s.listBusinessHours)
	authed.Put("/business-hours", s.requireAdmin, s.setBusinessHours)
	authed.Delete("/business-hours", s.requireAdmin, s.deleteBusinessHours)
	authed.Put("/departments/:id/hours", s.requireAdmin, s.setBusinessHours)
	authed.Delete("/departments/:id/hours", s.requireAdmin, s.deleteBusinessHours)
}

// hoursRequest is a schedule as admins send it; the scope comes from the
// path.
type hoursRequest struct {
	TimeZone    string               `json:"time_zone"`
	Weekly      []models.OpeningSpan `json:"weekly"`
	ClosedDates []string             `json:"closed_dates"`
}

// hoursView is a schedule as the API shows it: with whether it is open
// now and, when it is not, when it opens next.
type hoursView struct {
	*models.BusinessHours
	OpenNow bool       `json:"open_now"`
	OpensAt *time.Time `json:"opens_at,omitempty"`
}

func newHoursView(h *models.BusinessHours, now time.Time) hoursView {
	v := hoursView{BusinessHours: h, OpenNow: h.OpenAt(now)}
	if h.Weekly == nil {
		h.Weekly = []models.OpeningSpan{}
	}
	if h.ClosedDates == nil {
		h.ClosedDates = []string{}
	}
	if !v.OpenNow {
		if at, ok := h.NextOpening(now); ok {
			v.OpensAt = &at
		}
	}
	return v
}

func (s *Server) listBusinessHours(c *fiber.Ctx) error {
	all, err := s.Store.AllBusinessHours(c.UserContext())
	if err != nil {
		return err
	}
	now := time.Now()
	var shop *hoursView
	depts := make([]hoursView, 0, len(all))
	for _, h := range all {
		v := newHoursView(h, now)
		if h.DepartmentID == "" {
			shop = &v
		} else {
			depts = append(depts, v)
		}
	}
	return c.JSON(fiber.Map{"shop": shop, "departments": depts, "shop_open_now": shop == nil || shop.OpenNow})
}

func (s *Server) setBusinessHours(c *fiber.Ctx) error {
	var req hoursRequest
	if err := parseJSON(c, &req); err != nil {
		return err
	}
	h := &models.BusinessHours{DepartmentID: strings.Clone(c.Params("id")), TimeZone: req.TimeZone,
		Weekly: req.Weekly, ClosedDates: req.ClosedDates}
	if err := s.Store.SetBusinessHours(c.UserContext(), h, time.Now()); err != nil {
		return err
	}
	s.Dispatcher.HoursChanged()
	return c.JSON(fiber.Map{"business_hours": newHoursView(h, time.Now())})
}

func (s *Server) deleteBusinessHours(c *fiber.Ctx) error {
	if err := s.Store.DeleteBusinessHours(c.UserContext(), c.Params("id")); err != nil {
		return err
	}
	s.Dispatcher.HoursChanged()
	return c.SendStatus(fiber.StatusNoContent)
}
