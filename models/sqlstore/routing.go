package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/kefu-chat/kefu/models"
)

// routingTables are the tables of departments, transfers and business
// hours, migrated after the core tables.
func routingTables() []any {
	return []any{&models.Department{}, &models.DepartmentMember{}, &models.TransferRecord{}, &businessHoursRow{}}
}

// members returns the sorted member IDs of each of the departments.
func (s *Store) membersOf(tx *gorm.DB, ids []string) (map[string][]string, error) {
	var rows []models.DepartmentMember
	if err := tx.Where("department_id IN ?", ids).Order("agent_id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[string][]string, len(ids))
	for _, r := range rows {
		out[r.DepartmentID] = append(out[r.DepartmentID], r.AgentID)
	}
	return out, nil
}

// setMembers replaces the department's members; EINVALID for an unknown
// agent.
func (s *Store) setMembers(tx *gorm.DB, deptID string, ids []string) ([]string, error) {
	m := slices.Clone(ids)
	slices.Sort(m)
	m = slices.Compact(m)
	if len(m) > 0 {
		var n int64
		if err := tx.Model(&models.Agent{}).Where("id IN ?", m).Count(&n).Error; err != nil {
			return nil, err
		}
		if int(n) != len(m) {
			return nil, models.Errorf(models.EINVALID, "a member is not a known agent")
		}
	}
	if err := tx.Where("department_id = ?", deptID).Delete(&models.DepartmentMember{}).Error; err != nil {
		return nil, err
	}
	for _, id := range m {
		if err := tx.Create(&models.DepartmentMember{DepartmentID: deptID, AgentID: id}).Error; err != nil {
			return nil, err
		}
	}
	if m == nil {
		m = []string{}
	}
	return m, nil
}

// nameTaken reports whether another department has the name, ignoring case.
func nameTaken(tx *gorm.DB, name, except string) (bool, error) {
	var n int64
	err := tx.Model(&models.Department{}).Where("LOWER(name) = LOWER(?) AND id <> ?", name, except).Count(&n).Error
	return n > 0, err
}

// CreateDepartment stores a new department with its members.
func (s *Store) CreateDepartment(ctx context.Context, d *models.Department) error {
	if err := d.Normalize(); err != nil {
		return err
	}
	if d.ID == "" {
		d.ID = uuid.NewString()
	}
	now := time.Now().UTC()
	if d.CreatedAt.IsZero() {
		d.CreatedAt = now
	}
	d.UpdatedAt = d.CreatedAt
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if taken, err := nameTaken(tx, d.Name, d.ID); err != nil {
			return err
		} else if taken {
			return models.Errorf(models.ECONFLICT, "a department named %q exists", d.Name)
		}
		if err := tx.Create(d).Error; err != nil {
			return err
		}
		m, err := s.setMembers(tx, d.ID, d.Members)
		d.Members = m
		return err
	})
	return s.mapErr(err, "create department")
}

// Department returns the department with the id.
func (s *Store) Department(ctx context.Context, id string) (*models.Department, error) {
	db := s.db.WithContext(ctx)
	var d models.Department
	if err := db.Where("id = ?", id).Take(&d).Error; err != nil {
		return nil, s.mapErr(err, "department")
	}
	m, err := s.membersOf(db, []string{id})
	if err != nil {
		return nil, s.mapErr(err, "department")
	}
	d.Members = m[id]
	if d.Members == nil {
		d.Members = []string{}
	}
	return &d, nil
}

// Departments lists all departments by name.
func (s *Store) Departments(ctx context.Context) ([]*models.Department, error) {
	db := s.db.WithContext(ctx)
	var ds []*models.Department
	if err := db.Order("name").Find(&ds).Error; err != nil {
		return nil, s.mapErr(err, "departments")
	}
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	m, err := s.membersOf(db, ids)
	if err != nil {
		return nil, s.mapErr(err, "departments")
	}
	for _, d := range ds {
		d.Members = m[d.ID]
		if d.Members == nil {
			d.Members = []string{}
		}
	}
	return ds, nil
}

// UpdateDepartment applies the non-nil fields of u.
func (s *Store) UpdateDepartment(ctx context.Context, id string, u models.DepartmentUpdate) (*models.Department, error) {
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var d models.Department
		if err := s.forUpdate(tx).Where("id = ?", id).Take(&d).Error; err != nil {
			return err
		}
		if u.Name != nil {
			d.Name = *u.Name
		}
		if u.Strategy != nil {
			if *u.Strategy == "" {
				return models.Errorf(models.EINVALID, "strategy must not be empty")
			}
			d.Strategy = *u.Strategy
		}
		if u.FallbackAfter != nil {
			d.FallbackAfter = *u.FallbackAfter
		}
		if err := d.Normalize(); err != nil {
			return err
		}
		if taken, err := nameTaken(tx, d.Name, id); err != nil {
			return err
		} else if taken {
			return models.Errorf(models.ECONFLICT, "a department named %q exists", d.Name)
		}
		if err := tx.Model(&models.Department{}).Where("id = ?", id).Updates(map[string]any{
			"name": d.Name, "strategy": d.Strategy, "fallback_after": d.FallbackAfter, "updated_at": time.Now().UTC(),
		}).Error; err != nil {
			return err
		}
		if u.Members != nil {
			if _, err := s.setMembers(tx, id, *u.Members); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.mapErr(err, "update department")
	}
	return s.Department(ctx, id)
}

// DeleteDepartment removes the department; its open conversations lose it.
func (s *Store) DeleteDepartment(ctx context.Context, id string) error {
	err := s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Where("id = ?", id).Delete(&models.Department{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return models.Errorf(models.ENOTFOUND, "department not found")
		}
		if err := tx.Where("department_id = ?", id).Delete(&models.DepartmentMember{}).Error; err != nil {
			return err
		}
		if err := tx.Where("scope = ?", id).Delete(&businessHoursRow{}).Error; err != nil {
			return err
		}
		return tx.Model(&models.Conversation{}).Where("department_id = ? AND status IN ?", id, openStatuses).
			Update("department_id", nil).Error
	})
	return s.mapErr(err, "delete department")
}

// TransferConversation moves an open conversation to another agent or
// department. Every change is a conditional UPDATE re-checked by the
// database, as in AssignConversation.
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
	var out models.Conversation
	var rec models.TransferRecord
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var c models.Conversation
		if err := s.forUpdate(tx).Where("id = ?", t.ConversationID).Take(&c).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return models.Errorf(models.ENOTFOUND, "conversation not found")
			}
			return err
		}
		switch {
		case !c.Status.Open():
			return models.Errorf(models.ECONFLICT, "the conversation is resolved")
		case t.FromAgentID != "" && (c.Status != models.StatusAssigned || c.AgentID == nil || *c.AgentID != t.FromAgentID):
			return models.Errorf(models.ECONFLICT, "the conversation is not assigned to you")
		case t.ToAgentID != "" && c.AgentID != nil && *c.AgentID == t.ToAgentID:
			return models.Errorf(models.ECONFLICT, "the conversation is already theirs")
		}
		if t.ToDepartmentID != "" {
			if err := s.exists(tx, &models.Department{}, t.ToDepartmentID); err != nil {
				return models.Errorf(models.ENOTFOUND, "department not found")
			}
		}
		rec = models.TransferRecord{ID: uuid.NewString(), ConversationID: c.ID, ToAgentID: t.ToAgentID,
			ToDepartmentID: t.ToDepartmentID, ByAgentID: t.ByAgentID, Note: t.Note, CreatedAt: now}
		if c.Status == models.StatusAssigned && c.AgentID != nil {
			rec.FromAgentID = *c.AgentID
			if err := releaseChat(tx, *c.AgentID); err != nil {
				return err
			}
		}
		upd := map[string]any{"updated_at": now, "status": models.StatusQueued, "agent_id": nil, "assigned_at": nil}
		if t.ToDepartmentID != "" {
			upd["department_id"] = t.ToDepartmentID
		}
		if t.ToAgentID != "" {
			res := tx.Model(&models.Agent{}).
				Where("id = ? AND open_chats < ? AND disabled = ?", t.ToAgentID, t.Capacity, false).
				Updates(map[string]any{"open_chats": gorm.Expr("open_chats + 1"), "last_assigned_at": now})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				var ag models.Agent
				if err := tx.Where("id = ?", t.ToAgentID).Take(&ag).Error; err != nil {
					if errors.Is(err, gorm.ErrRecordNotFound) {
						return models.Errorf(models.ENOTFOUND, "agent not found")
					}
					return err
				}
				if ag.Disabled {
					return models.Errorf(models.EFORBIDDEN, "the agent is disabled")
				}
				return models.Errorf(models.ECAPACITY, "the agent already holds %d of %d chats", ag.OpenChats, t.Capacity)
			}
			upd["status"], upd["agent_id"], upd["assigned_at"] = models.StatusAssigned, t.ToAgentID, now
			reason, _ := json.Marshal(map[string]string{"strategy": "transfer", "from": rec.FromAgentID, "by": t.ByAgentID, "transfer": rec.ID})
			if err := tx.Create(&models.AssignmentRecord{ID: uuid.NewString(), ConversationID: c.ID, AgentID: t.ToAgentID,
				Strategy: "transfer", Reason: string(reason), CreatedAt: now}).Error; err != nil {
				return err
			}
		}
		res := tx.Model(&models.Conversation{}).Where("id = ? AND status = ?", c.ID, c.Status).Updates(upd)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return models.Errorf(models.ECONFLICT, "the conversation changed; try again")
		}
		if err := tx.Create(&rec).Error; err != nil {
			return err
		}
		return tx.Where("id = ?", c.ID).Take(&out).Error
	})
	if err != nil {
		return nil, nil, s.mapErr(err, "transfer conversation")
	}
	return &out, &rec, nil
}

// Transfers returns the transfer records of a conversation, oldest first.
func (s *Store) Transfers(ctx context.Context, conversationID string) ([]*models.TransferRecord, error) {
	var rs []*models.TransferRecord
	err := s.db.WithContext(ctx).Where("conversation_id = ?", conversationID).Order("created_at, id").Find(&rs).Error
	if err != nil {
		return nil, s.mapErr(err, "transfers")
	}
	return rs, nil
}

// SetPriority sets an open conversation's priority.
func (s *Store) SetPriority(ctx context.Context, conversationID string, p models.Priority, now time.Time) (*models.Conversation, error) {
	if p != models.PriorityNormal && p != models.PriorityHigh {
		return nil, models.Errorf(models.EINVALID, "priority must be normal or high")
	}
	now = nowOr(now)
	var out models.Conversation
	err := s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&models.Conversation{}).Where("id = ? AND status IN ?", conversationID, openStatuses).
			Updates(map[string]any{"priority": p, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			if err := s.exists(tx, &models.Conversation{}, conversationID); err != nil {
				return err
			}
			return models.Errorf(models.ECONFLICT, "the conversation is resolved")
		}
		return tx.Where("id = ?", conversationID).Take(&out).Error
	})
	if err != nil {
		return nil, s.mapErr(err, "set priority")
	}
	return &out, nil
}
