package sqlstore

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/kefu-chat/kefu/models"
)

// presenceTables is the table of agents' presence per instance.
func presenceTables() []any { return []any{&models.AgentPresence{}} }

// checkPresence validates a sync and returns its rows, normalized.
func checkPresence(instanceID string, rows []models.AgentPresence, now time.Time) ([]models.AgentPresence, error) {
	if instanceID == "" {
		return nil, models.Errorf(models.EINVALID, "instance id is empty")
	}
	out := make([]models.AgentPresence, 0, len(rows))
	seen := make(map[string]bool, len(rows))
	for _, r := range rows {
		if r.AgentID == "" || r.Connections < 1 {
			return nil, models.Errorf(models.EINVALID, "a presence row needs an agent id and at least one connection")
		}
		if seen[r.AgentID] {
			return nil, models.Errorf(models.EINVALID, "agent %s is listed twice", r.AgentID)
		}
		seen[r.AgentID] = true
		r.InstanceID, r.HeartbeatAt = instanceID, now.UTC()
		out = append(out, r)
	}
	return out, nil
}

// SyncPresence replaces the instance's rows in one transaction: delete,
// then insert. Under READ COMMITTED a reader sees the rows before or after
// the sync, never a mix, and the delete takes the rows' locks, so two syncs
// of one instance (which do not happen) would serialize.
func (s *Store) SyncPresence(ctx context.Context, instanceID string, rows []models.AgentPresence, now time.Time) error {
	out, err := checkPresence(instanceID, rows, now)
	if err != nil {
		return err
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("instance_id = ?", instanceID).Delete(&models.AgentPresence{}).Error; err != nil {
			return err
		}
		if len(out) == 0 {
			return nil
		}
		return tx.CreateInBatches(out, 200).Error
	})
	return s.mapErr(err, "sync presence")
}

// FreshPresence implements models.PresenceStore.
func (s *Store) FreshPresence(ctx context.Context, since time.Time) ([]models.AgentPresence, error) {
	var rows []models.AgentPresence
	err := s.db.WithContext(ctx).Where("heartbeat_at >= ?", since.UTC()).
		Order("agent_id").Order("instance_id").Find(&rows).Error
	if err != nil {
		return nil, s.mapErr(err, "read presence")
	}
	return rows, nil
}

// PrunePresence implements models.PresenceStore.
func (s *Store) PrunePresence(ctx context.Context, before time.Time) (int, error) {
	var pruned int64
	err := s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Where("heartbeat_at < ?", before.UTC()).Delete(&models.AgentPresence{})
		pruned = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, s.mapErr(err, "prune presence")
	}
	return int(pruned), nil
}
