package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/kefu-chat/kefu/models"
)

// validAgent checks what CreateAgent promises to refuse.
func validAgent(a *models.Agent) error {
	switch {
	case a.Email == "" || !strings.Contains(a.Email, "@"):
		return models.Errorf(models.EINVALID, "a valid e-mail address is required")
	case strings.TrimSpace(a.Name) == "":
		return models.Errorf(models.EINVALID, "a name is required")
	case !a.Role.Valid():
		return models.Errorf(models.EINVALID, "role must be %q or %q", models.RoleAgent, models.RoleAdmin)
	case a.MaxChats < 0:
		return models.Errorf(models.EINVALID, "max chats must not be negative")
	}
	return nil
}

// CreateAgent stores a new agent, its e-mail normalized.
func (s *Store) CreateAgent(ctx context.Context, a *models.Agent) error {
	a.Email = models.NormalizeEmail(a.Email)
	if err := validAgent(a); err != nil {
		return err
	}
	if a.ID == "" {
		a.ID = uuid.NewString()
	}
	now := time.Now().UTC()
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now
	}
	if a.UpdatedAt.IsZero() {
		a.UpdatedAt = a.CreatedAt
	}
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	if a.TokenVersion == 0 {
		a.TokenVersion = 1
	}
	row := *a
	if err := s.tx(ctx, func(tx *gorm.DB) error { return tx.Create(&row).Error }); err != nil {
		if isUnique(err) {
			return models.Errorf(models.ECONFLICT, "an agent with e-mail %s exists", a.Email)
		}
		return s.mapErr(err, "create agent")
	}
	return nil
}

// Agent returns the agent with the id.
func (s *Store) Agent(ctx context.Context, id string) (*models.Agent, error) {
	var a models.Agent
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&a).Error; err != nil {
		return nil, s.mapErr(err, "agent")
	}
	return &a, nil
}

// AgentByEmail looks an agent up by e-mail, case-insensitively.
func (s *Store) AgentByEmail(ctx context.Context, email string) (*models.Agent, error) {
	var a models.Agent
	err := s.db.WithContext(ctx).Where("email = ?", models.NormalizeEmail(email)).Take(&a).Error
	if err != nil {
		return nil, s.mapErr(err, "agent")
	}
	return &a, nil
}

// Agents lists all agents ordered by e-mail.
func (s *Store) Agents(ctx context.Context) ([]*models.Agent, error) {
	var as []*models.Agent
	if err := s.db.WithContext(ctx).Order("email").Find(&as).Error; err != nil {
		return nil, s.mapErr(err, "list agents")
	}
	return as, nil
}

// AgentsByID returns the agents with the given ids that exist.
func (s *Store) AgentsByID(ctx context.Context, ids []string) (map[string]*models.Agent, error) {
	out := make(map[string]*models.Agent, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var as []*models.Agent
	if err := s.db.WithContext(ctx).Where("id IN ?", ids).Find(&as).Error; err != nil {
		return nil, s.mapErr(err, "agents by id")
	}
	for _, a := range as {
		out[a.ID] = a
	}
	return out, nil
}

// UpdateAgent applies the non-nil fields of u. Only the named columns are
// written, so a concurrent assignment's change to open_chats is never lost.
func (s *Store) UpdateAgent(ctx context.Context, id string, u models.AgentUpdate) (*models.Agent, error) {
	if u.Role != nil && !u.Role.Valid() {
		return nil, models.Errorf(models.EINVALID, "role must be %q or %q", models.RoleAgent, models.RoleAdmin)
	}
	if u.MaxChats != nil && *u.MaxChats < 0 {
		return nil, models.Errorf(models.EINVALID, "max chats must not be negative")
	}
	if u.Name != nil && strings.TrimSpace(*u.Name) == "" {
		return nil, models.Errorf(models.EINVALID, "a name is required")
	}
	var out models.Agent
	err := s.tx(ctx, func(tx *gorm.DB) error {
		set := map[string]any{"updated_at": time.Now().UTC()}
		if u.Name != nil {
			set["name"] = *u.Name
		}
		if u.Role != nil {
			set["role"] = *u.Role
		}
		if u.MaxChats != nil {
			set["max_chats"] = *u.MaxChats
		}
		if u.Disabled != nil {
			set["disabled"] = *u.Disabled
		}
		if u.PasswordHash != nil {
			set["password_hash"] = *u.PasswordHash
		}
		if u.MustChangePassword != nil {
			set["must_change_password"] = *u.MustChangePassword
		}
		if u.RevokeTokens || u.PasswordHash != nil || (u.Disabled != nil && *u.Disabled) {
			set["token_version"] = gorm.Expr("token_version + 1")
		}
		res := tx.Model(&models.Agent{}).Where("id = ?", id).Updates(set)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return models.Errorf(models.ENOTFOUND, "agent not found")
		}
		return tx.Where("id = ?", id).Take(&out).Error
	})
	if err != nil {
		return nil, s.mapErr(err, "update agent")
	}
	return &out, nil
}

// CountAdmins counts admins that are not disabled.
func (s *Store) CountAdmins(ctx context.Context) (int, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&models.Agent{}).
		Where("role = ? AND disabled = ?", models.RoleAdmin, false).Count(&n).Error
	if err != nil {
		return 0, s.mapErr(err, "count admins")
	}
	return int(n), nil
}
