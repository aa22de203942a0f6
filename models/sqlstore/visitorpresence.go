package sqlstore

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kefu-chat/kefu/models"
)

// visitorPresenceTables are the tables of shoppers' presence per instance.
func visitorPresenceTables() []any {
	return []any{&models.VisitorPresence{}, &models.InstanceBeat{}}
}

func checkIDs(ids ...string) error {
	for _, id := range ids {
		if id == "" {
			return models.Errorf(models.EINVALID, "instance and visitor ids are required")
		}
	}
	return nil
}

// AddVisitorConnection implements models.VisitorPresenceStore with one
// upsert, so concurrent adds on one row all count.
func (s *Store) AddVisitorConnection(ctx context.Context, instanceID, visitorID string, now time.Time) error {
	if err := checkIDs(instanceID, visitorID); err != nil {
		return err
	}
	defer s.lockWrites()()
	row := models.VisitorPresence{VisitorID: visitorID, InstanceID: instanceID, Connections: 1, ConnectedAt: now.UTC()}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "visitor_id"}, {Name: "instance_id"}},
		DoUpdates: clause.Assignments(map[string]any{"connections": gorm.Expr("visitor_presences.connections + 1")}),
	}).Create(&row).Error
	return s.mapErr(err, "add visitor connection")
}

// RemoveVisitorConnection implements models.VisitorPresenceStore: a
// decrement, then the deletion of a row left at zero. An add between the
// two brings the row back above zero, so the deletion spares it.
func (s *Store) RemoveVisitorConnection(ctx context.Context, instanceID, visitorID string) error {
	if err := checkIDs(instanceID, visitorID); err != nil {
		return err
	}
	defer s.lockWrites()()
	db := s.db.WithContext(ctx).Model(&models.VisitorPresence{}).Where("visitor_id = ? AND instance_id = ?", visitorID, instanceID)
	if err := db.Update("connections", gorm.Expr("connections - 1")).Error; err != nil {
		return s.mapErr(err, "remove visitor connection")
	}
	err := s.db.WithContext(ctx).Where("visitor_id = ? AND instance_id = ? AND connections <= 0", visitorID, instanceID).
		Delete(&models.VisitorPresence{}).Error
	return s.mapErr(err, "remove visitor connection")
}

// BeatInstance implements models.VisitorPresenceStore.
func (s *Store) BeatInstance(ctx context.Context, instanceID string, now time.Time) error {
	if err := checkIDs(instanceID); err != nil {
		return err
	}
	defer s.lockWrites()()
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "instance_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"beat_at"}),
	}).Create(&models.InstanceBeat{InstanceID: instanceID, BeatAt: now.UTC()}).Error
	return s.mapErr(err, "instance beat")
}

// VisitorConnectedElsewhere implements models.VisitorPresenceStore: one
// query on the visitor's rows (the primary key's prefix) joined with the
// beats.
func (s *Store) VisitorConnectedElsewhere(ctx context.Context, visitorID, instanceID string, since time.Time) (bool, error) {
	if err := checkIDs(instanceID, visitorID); err != nil {
		return false, err
	}
	var n int64
	err := s.db.WithContext(ctx).Model(&models.VisitorPresence{}).
		Joins("JOIN instance_beats ON instance_beats.instance_id = visitor_presences.instance_id").
		Where("visitor_presences.visitor_id = ? AND visitor_presences.instance_id <> ? AND visitor_presences.connections > 0 AND instance_beats.beat_at >= ?",
			visitorID, instanceID, since.UTC()).
		Count(&n).Error
	if err != nil {
		return false, s.mapErr(err, "visitor presence")
	}
	return n > 0, nil
}

// LeaveInstance implements models.VisitorPresenceStore.
func (s *Store) LeaveInstance(ctx context.Context, instanceID string) error {
	if err := checkIDs(instanceID); err != nil {
		return err
	}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("instance_id = ?", instanceID).Delete(&models.VisitorPresence{}).Error; err != nil {
			return err
		}
		return tx.Where("instance_id = ?", instanceID).Delete(&models.InstanceBeat{}).Error
	})
	return s.mapErr(err, "leave instance")
}

// PruneInstances implements models.VisitorPresenceStore.
func (s *Store) PruneInstances(ctx context.Context, before time.Time) (int, error) {
	before = before.UTC()
	var n int64
	err := s.tx(ctx, func(tx *gorm.DB) error {
		dead := tx.Model(&models.InstanceBeat{}).Select("instance_id").Where("beat_at < ?", before)
		if err := tx.Where("instance_id IN (?)", dead).Delete(&models.VisitorPresence{}).Error; err != nil {
			return err
		}
		beating := tx.Model(&models.InstanceBeat{}).Select("instance_id")
		if err := tx.Where("connected_at < ? AND instance_id NOT IN (?)", before, beating).Delete(&models.VisitorPresence{}).Error; err != nil {
			return err
		}
		res := tx.Where("beat_at < ?", before).Delete(&models.InstanceBeat{})
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, s.mapErr(err, "prune instances")
	}
	return int(n), nil
}
