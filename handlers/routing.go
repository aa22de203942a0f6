package handlers

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kefu-chat/kefu/chat"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
	"github.com/kefu-chat/kefu/routing"
)

// Frame types of the routing feature (docs/protocol.md).
const (
	typeTake     = "take"     // agent: take a queued conversation
	typeTransfer = "transfer" // agent: hand a conversation on
	typeEmail    = "email"    // visitor: where replies go while away
)

// away builds the away behaviour from the configuration; it keeps no state,
// so building it where needed is cheap.
func (s *Server) away() *chat.Away {
	o := chat.Offline{Presence: s.Visitors, PublicURL: s.Config.PublicURL}
	if s.Config.SMTPURL != "" {
		m, err := chat.NewMailer(s.Config.SMTPURL)
		if err != nil {
			s.log.Error("smtp url", "err", err) // Validate refuses it first
		} else {
			o.Mailer = m
		}
	}
	return chat.NewAway(s.Chat, o)
}

// publicRoutingRoutes are the routes the widget may call without logging in.
func (s *Server) publicRoutingRoutes(api fiber.Router) {
	api.Get("/departments/public", s.publicDepartments)
}

// routingRoutes are the departments, agent directory, take, transfer,
// priority and assignment-record endpoints (docs/api.md).
func (s *Server) routingRoutes(authed fiber.Router) {
	authed.Get("/departments", s.listDepartments)
	authed.Get("/directory", s.agentDirectory)
	depts := authed.Group("/departments", s.requireAdmin)
	depts.Post("", s.createDepartment)
	depts.Patch("/:id", s.updateDepartment)
	depts.Delete("/:id", s.deleteDepartment)
	authed.Post("/conversations/:id/take", s.takeConversation)
	authed.Post("/conversations/:id/transfer", s.transferConversation)
	authed.Get("/conversations/:id/transfers", s.listTransfers)
	authed.Post("/conversations/:id/priority", s.requireAdmin, s.setPriority)
	authed.Get("/conversations/:id/assignments", s.requireAdmin, s.listAssignments)
}

// registerRoutingFrames adds take and transfer for agents, and makes the
// visitor's message frame honour its department field.
func (s *Server) registerRoutingFrames() {
	away := s.away()
	s.visitorFrames[wire.TypeSend] = func(ctx context.Context, vs *visitorSocket, f wire.ClientFrame) error {
		ack, err := s.Chat.SendVisitorMessageTo(ctx, vs.visitor, f.ConversationID, f.ClientID, f.Body, f.Department,
			s.Dispatcher, away.EmailReplies())
		if err == nil {
			vs.send(ack)
		}
		return err
	}
	s.visitorFrames[typeEmail] = func(ctx context.Context, vs *visitorSocket, f wire.ClientFrame) error {
		ok, err := away.SetVisitorEmail(ctx, vs.visitor, f.Email)
		if err == nil {
			vs.send(ok)
		}
		return err
	}
	s.agentFrames[wire.TypeSend] = func(ctx context.Context, as *agentSocket, f wire.ClientFrame) error {
		ack, fresh, err := s.Chat.SendAgentReply(ctx, as.agent, f.ConversationID, f.ClientID, f.Body)
		if err != nil {
			return err
		}
		as.send(ack)
		if fresh { // a resend (same client id) was mailed, if at all, the first time
			away.MailIfAway(ctx, f.ConversationID, as.agent.Name, f.Body)
		}
		return nil
	}
	s.agentFrames[typeTake] = func(ctx context.Context, as *agentSocket, f wire.ClientFrame) error {
		_, err := s.Dispatcher.Take(ctx, f.ConversationID, as.agent.ID)
		return err
	}
	s.agentFrames[typeTransfer] = func(ctx context.Context, as *agentSocket, f wire.ClientFrame) error {
		_, _, err := s.transfer(ctx, as.agent, f.ConversationID, f.AgentID, f.Department, f.Note)
		return err
	}
}

// transfer hands a conversation on. A conversation goes only to an agent
// with a console open here: one with none would hold it with no grace
// period running to give it back.
func (s *Server) transfer(ctx context.Context, by *models.Agent, convID, agentID, deptID, note string) (*models.Conversation, *models.TransferRecord, error) {
	if agentID != "" && s.Dispatcher.Presence(agentID).Connections == 0 {
		return nil, nil, models.Errorf(models.ECONFLICT, "that agent is not online; transfer to a department instead")
	}
	return s.Chat.Transfer(ctx, by, chat.TransferRequest{ConversationID: convID, ToAgentID: agentID, ToDepartmentID: deptID,
		Note: note, Capacity: func(a *models.Agent) int { return a.Capacity(s.Config.DefaultMaxChats) }})
}

// departmentView is a department as admins see it; fallback in seconds.
type departmentView struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	Strategy        string    `json:"strategy"`
	FallbackSeconds int       `json:"fallback_seconds"`
	Members         []string  `json:"members"`
	CreatedAt       time.Time `json:"created_at"`
}

func newDepartmentView(d *models.Department) departmentView {
	m := d.Members
	if m == nil {
		m = []string{}
	}
	return departmentView{ID: d.ID, Name: d.Name, Strategy: d.Strategy, FallbackSeconds: int(d.FallbackAfter / time.Second),
		Members: m, CreatedAt: d.CreatedAt}
}

// publicDepartments lists the names and ids the widget may offer; nothing
// else about them. The widget asks from the shop's page, so the shops'
// origins (KEFU_ALLOWED_ORIGINS) may read the answer; it is a simple GET
// without credentials, which needs no preflight.
func (s *Server) publicDepartments(c *fiber.Ctx) error {
	if o := normalizeOrigin(c.Get(fiber.HeaderOrigin)); o != "" && s.shopOrigins[o] {
		c.Set(fiber.HeaderAccessControlAllowOrigin, c.Get(fiber.HeaderOrigin))
	}
	c.Set(fiber.HeaderVary, "Origin")
	ds, err := s.Store.Departments(c.UserContext())
	if err != nil {
		return err
	}
	type pub struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	out := make([]pub, 0, len(ds))
	for _, d := range ds {
		out = append(out, pub{d.ID, d.Name})
	}
	return c.JSON(fiber.Map{"departments": out})
}

func (s *Server) listDepartments(c *fiber.Ctx) error {
	ds, err := s.Store.Departments(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]departmentView, 0, len(ds))
	for _, d := range ds {
		out = append(out, newDepartmentView(d))
	}
	return c.JSON(fiber.Map{"departments": out})
}

type departmentRequest struct {
	Name            *string   `json:"name"`
	Strategy        *string   `json:"strategy"`
	FallbackSeconds *int      `json:"fallback_seconds"`
	Members         *[]string `json:"members"`
}

func (r departmentRequest) fallback() (*time.Duration, error) {
	if r.FallbackSeconds == nil {
		return nil, nil
	}
	if *r.FallbackSeconds < 0 || *r.FallbackSeconds > 7*24*3600 {
		return nil, models.Errorf(models.EINVALID, "fallback_seconds must be between 0 and 604800")
	}
	d := time.Duration(*r.FallbackSeconds) * time.Second
	return &d, nil
}

func (s *Server) createDepartment(c *fiber.Ctx) error {
	var req departmentRequest
	if err := parseJSON(c, &req); err != nil {
		return err
	}
	fb, err := req.fallback()
	if err != nil {
		return err
	}
	d := &models.Department{}
	if req.Name != nil {
		d.Name = *req.Name
	}
	if req.Strategy != nil {
		d.Strategy = *req.Strategy
	}
	if fb != nil {
		d.FallbackAfter = *fb
	}
	if req.Members != nil {
		d.Members = *req.Members
	}
	if err := s.Store.CreateDepartment(c.UserContext(), d); err != nil {
		return err
	}
	s.Dispatcher.Kick()
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"department": newDepartmentView(d)})
}

func (s *Server) updateDepartment(c *fiber.Ctx) error {
	var req departmentRequest
	if err := parseJSON(c, &req); err != nil {
		return err
	}
	fb, err := req.fallback()
	if err != nil {
		return err
	}
	d, err := s.Store.UpdateDepartment(c.UserContext(), c.Params("id"), models.DepartmentUpdate{Name: req.Name,
		Strategy: req.Strategy, FallbackAfter: fb, Members: req.Members})
	if err != nil {
		return err
	}
	s.Dispatcher.Kick()
	return c.JSON(fiber.Map{"department": newDepartmentView(d)})
}

func (s *Server) deleteDepartment(c *fiber.Ctx) error {
	if err := s.Store.DeleteDepartment(c.UserContext(), c.Params("id")); err != nil {
		return err
	}
	s.Dispatcher.Kick()
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) takeConversation(c *fiber.Ctx) error {
	conv, err := s.Dispatcher.Take(c.UserContext(), c.Params("id"), currentAgent(c).ID)
	if err != nil {
		return err
	}
	return s.renderConversation(c, conv)
}

type transferBody struct {
	AgentID    string `json:"agent_id"`
	Department string `json:"department"`
	Note       string `json:"note"`
}

func (s *Server) transferConversation(c *fiber.Ctx) error {
	var req transferBody
	if err := parseJSON(c, &req); err != nil {
		return err
	}
	conv, rec, err := s.transfer(c.UserContext(), currentAgent(c), strings.Clone(c.Params("id")), req.AgentID, req.Department, req.Note)
	if err != nil {
		return err
	}
	view, err := s.Chat.ConversationView(c.UserContext(), currentAgent(c), conv.ID)
	if models.ErrorCode(err) == models.ENOTFOUND {
		// Handed on: the sender may no longer read it.
		return c.JSON(fiber.Map{"transfer": rec})
	} else if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"conversation": view, "transfer": rec})
}

func (s *Server) listTransfers(c *fiber.Ctx) error {
	recs, err := s.Chat.Transfers(c.UserContext(), currentAgent(c), c.Params("id"))
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []*models.TransferRecord{}
	}
	return c.JSON(fiber.Map{"transfers": recs})
}

var priorities = map[string]models.Priority{"normal": models.PriorityNormal, "high": models.PriorityHigh}

func (s *Server) setPriority(c *fiber.Ctx) error {
	var req struct {
		Priority string `json:"priority"`
	}
	if err := parseJSON(c, &req); err != nil {
		return err
	}
	p, ok := priorities[req.Priority]
	if !ok {
		return models.Errorf(models.EINVALID, "priority must be normal or high")
	}
	conv, err := s.Chat.SetPriority(c.UserContext(), c.Params("id"), p)
	if err != nil {
		return err
	}
	return s.renderConversation(c, conv)
}

func (s *Server) listAssignments(c *fiber.Ctx) error {
	id := c.Params("id")
	if _, err := s.Store.Conversation(c.UserContext(), id); err != nil {
		return err
	}
	recs, err := s.Store.Assignments(c.UserContext(), id)
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []*models.AssignmentRecord{}
	}
	return c.JSON(fiber.Map{"assignments": recs})
}

// directoryEntry is an agent as every agent may see them, to hand a
// conversation on: who, whether they are there, and their departments.
// Nothing else: no e-mail, role, caps or load.
type directoryEntry struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Status      string   `json:"status"`
	Departments []string `json:"departments"`
}

// agentDirectory lists the enabled agents, by name, for any logged-in
// agent (the admin list, /api/agents, has the rest).
func (s *Server) agentDirectory(c *fiber.Ctx) error {
	ctx := c.UserContext()
	agents, err := s.Store.Agents(ctx)
	if err != nil {
		return err
	}
	depts, err := s.Store.Departments(ctx)
	if err != nil {
		return err
	}
	member := map[string][]string{}
	for _, d := range depts {
		for _, m := range d.Members {
			member[m] = append(member[m], d.ID)
		}
	}
	out := make([]directoryEntry, 0, len(agents))
	for _, a := range agents {
		if a.Disabled {
			continue
		}
		p := s.Dispatcher.Presence(a.ID)
		status := string(p.Status)
		if p.Connections == 0 {
			status = string(routing.StatusOffline) // in the grace period: not there to take a transfer
		}
		ds := member[a.ID]
		if ds == nil {
			ds = []string{}
		}
		out = append(out, directoryEntry{ID: a.ID, Name: a.Name, Status: status, Departments: ds})
	}
	slices.SortFunc(out, func(x, y directoryEntry) int {
		return cmp.Or(strings.Compare(x.Name, y.Name), strings.Compare(x.ID, y.ID))
	})
	return c.JSON(fiber.Map{"agents": out})
}
