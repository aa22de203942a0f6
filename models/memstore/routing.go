package memstore

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kefu-chat/kefu/models"
)

// routingState is the part of the store that departments, transfers,
// priorities and business hours add. It lives under the store's one mutex.
type routingState struct {
	departments map[string]*models.Department
	transfers   map[string][]*models.TransferRecord
	hours       map[string]*models.BusinessHours // by department ID, "" for the shop (hours.go)
}

func (s *Store) routing() *routingState {
	if s.rs == nil {
		s.rs = &routingState{departments: map[string]*models.Department{}, transfers: map[string][]*models.TransferRecord{}}
	}
	return s.rs
}

func copyDept(d *models.Department) *models.Department {
	c := *d
	c.Members = slices.Clone(d.Members)
	if c.Members == nil {
		c.Members = []string{}
	}
	return &c
}

// checkMembers returns the sorted, deduplicated members; EINVALID for an
// unknown agent. Called with the lock held.
func (s *Store) checkMembers(ids []string) ([]string, error) {
	out := slices.Clone(ids)
	slices.Sort(out)
	out = slices.Compact(out)
	for _, id := range out {
		if _, ok := s.agents[id]; !ok {
			return nil, models.Errorf(models.EINVALID, "no agent %q", id)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

func (s *Store) nameTaken(name, except string) bool {
	for _, d := range s.routing().departments {
		if d.ID != except && strings.EqualFold(d.Name, name) {
			return true
		}
	}
	return false
}

// CreateDepartment stores a new department.
func (s *Store) CreateDepartment(ctx context.Context, d *models.Department) error {
	if err := d.Normalize(); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	members, err := s.checkMembers(d.Members)
	if err != nil {
		return err
	}
	if s.nameTaken(d.Name, "") {
		return models.Errorf(models.ECONFLICT, "a department named %q exists", d.Name)
	}
	if d.ID == "" {
		d.ID = uuid.NewString()
	}
	if _, ok := s.routing().departments[d.ID]; ok {
		return models.Errorf(models.ECONFLICT, "department %s exists", d.ID)
	}
	now := time.Now().UTC()
	if d.CreatedAt.IsZero() {
		d.CreatedAt = now
	}
	d.UpdatedAt = d.CreatedAt
	d.Members = members
	s.routing().departments[d.ID] = copyDept(d)
	return nil
}

// Department returns the department with the id.
func (s *Store) Department(ctx context.Context, id string) (*models.Department, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	d, ok := s.routing().departments[id]
	if !ok {
		return nil, models.Errorf(models.ENOTFOUND, "department not found")
	}
	return copyDept(d), nil
}

// Departments lists all departments by name.
func (s *Store) Departments(ctx context.Context) ([]*models.Department, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]*models.Department, 0, len(s.routing().departments))
	for _, d := range s.routing().departments {
		out = append(out, copyDept(d))
	}
	slices.SortFunc(out, func(a, b *models.Department) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// UpdateDepartment applies the non-nil fields of u.
func (s *Store) UpdateDepartment(ctx context.Context, id string, u models.DepartmentUpdate) (*models.Department, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	cur, ok := s.routing().departments[id]
	if !ok {
		return nil, models.Errorf(models.ENOTFOUND, "department not found")
	}
	d := copyDept(cur)
	if u.Name != nil {
		d.Name = *u.Name
	}
	if u.Strategy != nil {
		d.Strategy = *u.Strategy
		if d.Strategy == "" {
			return nil, models.Errorf(models.EINVALID, "strategy must not be empty")
		}
	}
	if u.FallbackAfter != nil {
		d.FallbackAfter = *u.FallbackAfter
	}
	if err := d.Normalize(); err != nil {
		return nil, err
	}
	if u.Members != nil {
		m, err := s.checkMembers(*u.Members)
		if err != nil {
			return nil, err
		}
		d.Members = m
	}
	if s.nameTaken(d.Name, id) {
		return nil, models.Errorf(models.ECONFLICT, "a department named %q exists", d.Name)
	}
	d.UpdatedAt = time.Now().UTC()
	s.routing().departments[id] = d
	return copyDept(d), nil
}

// DeleteDepartment removes the department; its open conversations lose it.
func (s *Store) DeleteDepartment(ctx context.Context, id string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.routing().departments[id]; !ok {
		return models.Errorf(models.ENOTFOUND, "department not found")
	}
	delete(s.routing().departments, id)
	delete(s.routing().hours, id)
	for _, c := range s.conversations {
		if c.Status.Open() && c.DepartmentID != nil && *c.DepartmentID == id {
			c.DepartmentID = nil
		}
	}
	return nil
}

// TransferConversation moves an open conversation to another agent or
// department.
func (s *Store) TransferConversation(ctx context.Context, t models.Transfer) (*models.Conversation, *models.TransferRecord, error) {
	switch {
	case t.ConversationID == "":
		return nil, nil, models.Errorf(models.EINVALID, "conversation is required")
	case t.ToAgentID == "" && t.ToDepartmentID == "":
		return nil, nil, models.Errorf(models.EINVALID, "name an agent or a department to transfer to")
	case len(t.Note) > models.MaxTransferNote:
		return nil, nil, models.Errorf(models.EINVALID, "the note is longer than %d bytes", models.MaxTransferNote)
	}
	now := nowOr(t.Now)
	if err := s.lock(); err != nil {
		return nil, nil, err
	}
	defer s.mu.Unlock()
	c, ok := s.conversations[t.ConversationID]
	switch {
	case !ok:
		return nil, nil, models.Errorf(models.ENOTFOUND, "conversation not found")
	case !c.Status.Open():
		return nil, nil, models.Errorf(models.ECONFLICT, "the conversation is resolved")
	case t.FromAgentID != "" && (c.Status != models.StatusAssigned || c.AgentID == nil || *c.AgentID != t.FromAgentID):
		return nil, nil, models.Errorf(models.ECONFLICT, "the conversation is not assigned to you")
	}
	if t.ToDepartmentID != "" {
		if _, ok := s.routing().departments[t.ToDepartmentID]; !ok {
			return nil, nil, models.Errorf(models.ENOTFOUND, "department not found")
		}
	}
	var to *models.Agent
	if t.ToAgentID != "" {
		to, ok = s.agents[t.ToAgentID]
		switch {
		case !ok:
			return nil, nil, models.Errorf(models.ENOTFOUND, "agent not found")
		case c.AgentID != nil && *c.AgentID == t.ToAgentID:
			return nil, nil, models.Errorf(models.ECONFLICT, "the conversation is already theirs")
		case to.Disabled:
			return nil, nil, models.Errorf(models.EFORBIDDEN, "the agent is disabled")
		case to.OpenChats >= t.Capacity:
			return nil, nil, models.Errorf(models.ECAPACITY, "the agent already holds %d of %d chats", to.OpenChats, t.Capacity)
		}
	}
	rec := &models.TransferRecord{ID: uuid.NewString(), ConversationID: c.ID, ToAgentID: t.ToAgentID,
		ToDepartmentID: t.ToDepartmentID, ByAgentID: t.ByAgentID, Note: t.Note, CreatedAt: now}
	if c.Status == models.StatusAssigned && c.AgentID != nil {
		rec.FromAgentID = *c.AgentID
		s.release(*c.AgentID)
	}
	if t.ToDepartmentID != "" {
		c.DepartmentID = ptr(&t.ToDepartmentID)
	}
	if to != nil {
		c.Status, c.AgentID, c.AssignedAt = models.StatusAssigned, ptr(&t.ToAgentID), utcPtr(now)
		to.OpenChats++
		to.LastAssignedAt = utcPtr(now)
		s.assignments[c.ID] = append(s.assignments[c.ID], &models.AssignmentRecord{
			ID: uuid.NewString(), ConversationID: c.ID, AgentID: t.ToAgentID, Strategy: "transfer",
			Reason: transferReason(rec), CreatedAt: now,
		})
	} else {
		c.Status, c.AgentID, c.AssignedAt = models.StatusQueued, nil, nil
	}
	c.UpdatedAt = now
	s.routing().transfers[c.ID] = append(s.routing().transfers[c.ID], rec)
	r := *rec
	return copyConv(c), &r, nil
}

// transferReason is the assignment reason of a transfer, as JSON.
func transferReason(r *models.TransferRecord) string {
	b, _ := json.Marshal(map[string]string{"strategy": "transfer", "from": r.FromAgentID, "by": r.ByAgentID, "transfer": r.ID})
	return string(b)
}

// Transfers returns the transfer records of a conversation, oldest first.
func (s *Store) Transfers(ctx context.Context, conversationID string) ([]*models.TransferRecord, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	recs := s.routing().transfers[conversationID]
	out := make([]*models.TransferRecord, len(recs))
	for i, r := range recs {
		c := *r
		out[i] = &c
	}
	return out, nil
}

// SetPriority sets an open conversation's priority.
func (s *Store) SetPriority(ctx context.Context, conversationID string, p models.Priority, now time.Time) (*models.Conversation, error) {
	if p != models.PriorityNormal && p != models.PriorityHigh {
		return nil, models.Errorf(models.EINVALID, "priority must be normal or high")
	}
	now = nowOr(now)
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	c, ok := s.conversations[conversationID]
	switch {
	case !ok:
		return nil, models.Errorf(models.ENOTFOUND, "conversation not found")
	case !c.Status.Open():
		return nil, models.Errorf(models.ECONFLICT, "the conversation is resolved")
	}
	c.Priority, c.UpdatedAt = p, now
	return copyConv(c), nil
}
