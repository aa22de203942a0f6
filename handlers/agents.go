package handlers

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/kefu-chat/kefu/auth"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

func (s *Server) listAgents(c *fiber.Ctx) error {
	agents, err := s.Store.Agents(c.UserContext())
	if err != nil {
		return err
	}
	views := make([]agentWithPresence, 0, len(agents))
	for _, a := range agents {
		p := s.Dispatcher.Presence(a.ID)
		views = append(views, agentWithPresence{AgentView: wire.NewAgentView(a), Status: string(p.Status), Connections: p.Connections})
	}
	return c.JSON(fiber.Map{"agents": views})
}

// agentWithPresence is an agent as the admin page lists them: with their
// presence on this instance.
type agentWithPresence struct {
	wire.AgentView
	Status      string `json:"status"`
	Connections int    `json:"connections"`
}

type createAgentRequest struct {
	Email    string      `json:"email"`
	Name     string      `json:"name"`
	Role     models.Role `json:"role"`
	MaxChats int         `json:"max_chats"`
}

func (s *Server) createAgent(c *fiber.Ctx) error {
	var req createAgentRequest
	if err := parseJSON(c, &req); err != nil {
		return err
	}
	if req.Role == "" {
		req.Role = models.RoleAgent
	}
	if !strings.Contains(req.Email, "@") {
		return models.Errorf(models.EINVALID, "email must be an e-mail address")
	}
	if req.MaxChats < 0 {
		return models.Errorf(models.EINVALID, "max_chats must not be negative")
	}
	password := auth.GeneratePassword()
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	a := &models.Agent{Email: req.Email, Name: strings.TrimSpace(req.Name), Role: req.Role, MaxChats: req.MaxChats,
		PasswordHash: hash, MustChangePassword: true}
	if err := s.Store.CreateAgent(c.UserContext(), a); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"agent": wire.NewAgentView(a), "password": password})
}

type updateAgentRequest struct {
	Name     *string      `json:"name"`
	Role     *models.Role `json:"role"`
	MaxChats *int         `json:"max_chats"`
	Disabled *bool        `json:"disabled"`
}

func (s *Server) updateAgent(c *fiber.Ctx) error {
	var req updateAgentRequest
	if err := parseJSON(c, &req); err != nil {
		return err
	}
	me := currentAgent(c)
	id := c.Params("id")
	if id == me.ID && ((req.Disabled != nil && *req.Disabled) || (req.Role != nil && *req.Role != models.RoleAdmin)) {
		return models.Errorf(models.ECONFLICT, "you cannot disable or demote yourself")
	}
	if req.Name != nil && strings.TrimSpace(*req.Name) == "" {
		return models.Errorf(models.EINVALID, "name must not be empty")
	}
	a, err := s.Store.UpdateAgent(c.UserContext(), id, models.AgentUpdate{Name: req.Name, Role: req.Role,
		MaxChats: req.MaxChats, Disabled: req.Disabled})
	if err != nil {
		return err
	}
	if req.Disabled != nil && *req.Disabled {
		s.Chat.Revoke(c.UserContext(), a.ID)
	}
	if req.MaxChats != nil || req.Disabled != nil {
		s.Dispatcher.Kick()
	}
	return c.JSON(fiber.Map{"agent": wire.NewAgentView(a)})
}

func (s *Server) resetPassword(c *fiber.Ctx) error {
	password := auth.GeneratePassword()
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	yes := true
	a, err := s.Store.UpdateAgent(c.UserContext(), c.Params("id"), models.AgentUpdate{PasswordHash: &hash, MustChangePassword: &yes})
	if err != nil {
		return err
	}
	s.Chat.Revoke(c.UserContext(), a.ID)
	return c.JSON(fiber.Map{"password": password})
}
