package handlers

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// statusFilters maps the status query parameter to stored statuses.
var statusFilters = map[string][]models.Status{
	"":         {models.StatusQueued, models.StatusAssigned},
	"open":     {models.StatusQueued, models.StatusAssigned},
	"queued":   {models.StatusQueued},
	"assigned": {models.StatusAssigned},
	"resolved": {models.StatusResolved},
	"all":      nil,
}

// intQuery reads a non-negative integer query parameter, def when absent.
func intQuery(c *fiber.Ctx, name string, def int64) (int64, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, models.Errorf(models.EINVALID, "%s must be a whole number of 0 or more", name)
	}
	return n, nil
}

func (s *Server) listConversations(c *fiber.Ctx) error {
	statuses, ok := statusFilters[c.Query("status")]
	if !ok {
		return models.Errorf(models.EINVALID, "status must be open, queued, assigned, resolved or all")
	}
	limit, err := intQuery(c, "limit", 100)
	if err != nil {
		return err
	}
	if limit > 500 {
		return models.Errorf(models.EINVALID, "limit must be at most 500")
	}
	views, err := s.Chat.ListConversations(c.UserContext(), currentAgent(c), models.ConversationFilter{
		VisitorID: c.Query("visitor_id"), Statuses: statuses, Limit: int(limit)})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"conversations": nonNilViews(views)})
}

func nonNilViews(v []wire.ConversationView) []wire.ConversationView {
	if v == nil {
		return []wire.ConversationView{}
	}
	return v
}

func (s *Server) getConversation(c *fiber.Ctx) error {
	view, err := s.Chat.ConversationView(c.UserContext(), currentAgent(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"conversation": view})
}

func (s *Server) listMessages(c *fiber.Ctx) error {
	after, err := intQuery(c, "after", 0)
	if err != nil {
		return err
	}
	limit, err := intQuery(c, "limit", 100)
	if err != nil {
		return err
	}
	if limit == 0 || limit > 500 {
		return models.Errorf(models.EINVALID, "limit must be between 1 and 500")
	}
	msgs, more, err := s.Chat.Messages(c.UserContext(), currentAgent(c), c.Params("id"), after, int(limit))
	if err != nil {
		return err
	}
	if msgs == nil {
		msgs = []wire.MessageView{}
	}
	return c.JSON(fiber.Map{"messages": msgs, "more": more})
}

func (s *Server) resolveConversation(c *fiber.Ctx) error {
	conv, err := s.Chat.Resolve(c.UserContext(), currentAgent(c), c.Params("id"))
	if err != nil {
		return err
	}
	return s.renderConversation(c, conv)
}

func (s *Server) renderConversation(c *fiber.Ctx, conv *models.Conversation) error {
	view, err := s.Chat.ConversationView(c.UserContext(), currentAgent(c), conv.ID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"conversation": view})
}

func (s *Server) queue(c *fiber.Ctx) error {
	views, err := s.Chat.QueueViews(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"queue": nonNilViews(views)})
}
