package handlers

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kefu-chat/kefu/chat"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// announcementRequest is the body of POST /api/announcements.
type announcementRequest struct {
	Text        string     `json:"text"`
	Link        string     `json:"link"`
	Level       string     `json:"level"`
	StartsAt    *time.Time `json:"starts_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	PagePattern string     `json:"page_pattern"`
	Langs       []string   `json:"langs"`
}

// announcementRecord is an announcement as admins see it in the history.
type announcementRecord struct {
	ID          string                   `json:"id"`
	Text        string                   `json:"text"`
	Link        string                   `json:"link,omitempty"`
	Level       models.AnnouncementLevel `json:"level"`
	StartsAt    *time.Time               `json:"starts_at,omitempty"`
	ExpiresAt   *time.Time               `json:"expires_at,omitempty"`
	PagePattern string                   `json:"page_pattern,omitempty"`
	Langs       []string                 `json:"langs"`
	CreatedBy   string                   `json:"created_by"`
	CreatedAt   time.Time                `json:"created_at"`
	SentAt      *time.Time               `json:"sent_at,omitempty"`
	EndedAt     *time.Time               `json:"ended_at,omitempty"`
	// Status is scheduled, active, withdrawn or expired.
	Status    string `json:"status"`
	Delivered int64  `json:"delivered"`
	Seen      int64  `json:"seen"`
}

func newAnnouncementRecord(a *models.Announcement, now time.Time) announcementRecord {
	r := announcementRecord{ID: a.ID, Text: a.Text, Link: a.Link, Level: a.Level, StartsAt: a.StartsAt,
		ExpiresAt: a.ExpiresAt, PagePattern: a.PagePattern, Langs: models.SplitLangs(a.Langs),
		CreatedBy: a.CreatedBy, CreatedAt: a.CreatedAt, SentAt: a.SentAt, EndedAt: a.EndedAt,
		Delivered: a.Delivered, Seen: a.Seen}
	if r.Langs == nil {
		r.Langs = []string{}
	}
	switch {
	case a.EndedAt != nil:
		r.Status = a.EndReason
	case a.ExpiresAt != nil && !now.Before(*a.ExpiresAt):
		r.Status = models.EndExpired // the scheduler is about to end it
	case a.SentAt == nil:
		r.Status = "scheduled"
	default:
		r.Status = "active"
	}
	return r
}

// createAnnouncement: POST /api/announcements (admins). An Idempotency-Key
// header makes a retry return the first announcement (200, with
// Idempotent-Replayed: true) instead of creating another (201).
func (s *Server) createAnnouncement(c *fiber.Ctx) error {
	var req announcementRequest
	if err := parseJSON(c, &req); err != nil {
		return err
	}
	key := strings.Clone(strings.TrimSpace(c.Get("Idempotency-Key")))
	in := chat.AnnouncementInput{Text: req.Text, Link: req.Link, Level: models.AnnouncementLevel(req.Level),
		StartsAt: req.StartsAt, ExpiresAt: req.ExpiresAt, PagePattern: req.PagePattern, Langs: req.Langs}
	a, existed, err := s.Announcer.Create(c.UserContext(), currentAgent(c), in, key)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if existed {
		status = http.StatusOK
		c.Set("Idempotent-Replayed", "true")
	}
	return c.Status(status).JSON(newAnnouncementRecord(a, time.Now()))
}

// listAnnouncements: GET /api/announcements?limit=N (admins), newest first.
func (s *Server) listAnnouncements(c *fiber.Ctx) error {
	limit := c.QueryInt("limit", 100)
	if limit < 1 || limit > 500 {
		return models.Errorf(models.EINVALID, "limit must be between 1 and 500")
	}
	list, err := s.Announcer.History(c.UserContext(), limit)
	if err != nil {
		return err
	}
	now := time.Now()
	out := make([]announcementRecord, 0, len(list))
	for _, a := range list {
		out = append(out, newAnnouncementRecord(a, now))
	}
	return c.JSON(fiber.Map{"announcements": out})
}

// withdrawAnnouncement: POST /api/announcements/{id}/withdraw (admins).
func (s *Server) withdrawAnnouncement(c *fiber.Ctx) error {
	a, err := s.Announcer.Withdraw(c.UserContext(), currentAgent(c), strings.Clone(c.Params("id")))
	if err != nil {
		return err
	}
	return c.JSON(newAnnouncementRecord(a, time.Now()))
}

// registerAnnouncementFrames adds the visitor's seen frame, which names the
// announcement in announcement_id. Widgets before that field sent the id in
// client_id; the server no longer reads it there, and says so.
func (s *Server) registerAnnouncementFrames() {
	s.visitorFrames[wire.TypeSeen] = func(ctx context.Context, vs *visitorSocket, f wire.ClientFrame) error {
		if f.AnnouncementID == "" && f.ClientID != "" {
			return models.Errorf(models.EINVALID, "seen names the announcement in announcement_id, not client_id")
		}
		return s.Announcer.Seen(ctx, vs.visitor.ID, f.AnnouncementID)
	}
}

// sendActiveAnnouncements queues the active announcements a socket that
// just got its welcome should show: for a shopper, those targeting their
// page and language; for an agent, all.
func (s *Server) sendActiveAnnouncements(k *socket, pageURL, lang string, agent bool) {
	if s.Announcer == nil || k.conn == nil {
		return
	}
	s.Announcer.SendActive(pageURL, lang, agent, k.conn.Send)
}
