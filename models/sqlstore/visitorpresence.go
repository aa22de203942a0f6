package sqlstore

import (
	"context"
	"sort"
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

// ChangeVisitorConnections implements models.VisitorPresenceStore with two
// statements per 500 shoppers: an upsert adding every delta (a negative
// one for a shopper without a row makes a row below zero), then the
// deletion of the rows that went down and are at zero or below.
func (s *Store) ChangeVisitorConnections(ctx context.Context, instanceID string, deltas map[string]int, now time.Time) error {
	if err := checkIDs(instanceID); err != nil {
		return err
	}
	rows := make([]models.VisitorPresence, 0, len(deltas))
	for id, d := range deltas {
		if err := checkIDs(id); err != nil {
			return err
		}
		if d != 0 {
			rows = append(rows, models.VisitorPresence{VisitorID: id, InstanceID: instanceID, Connections: d, ConnectedAt: now.UTC()})
		}
	}
	if len(rows) == 0 {
		return nil
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].VisitorID < rows[j].VisitorID }) // one lock order
	err := s.tx(ctx, func(tx *gorm.DB) error {
		err := tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "visitor_id"}, {Name: "instance_id"}},
			DoUpdates: clause.Assignments(map[string]any{"connections": gorm.Expr("visitor_presences.connections + excluded.connections")}),
		}).CreateInBatches(rows, 500).Error
		if err != nil {
			return err
		}
		// Only rows that went down can be at zero: delete among those, so
		// the statement touches the changed rows, not all the instance's.
		var fell []string
		for _, r := range rows {
			if r.Connections < 0 {
				fell = append(fell, r.VisitorID)
			}
		}
		for len(fell) > 0 {
			n := min(len(fell), 500)
			err := tx.Where("instance_id = ? AND visitor_id IN ? AND connections <= 0", instanceID, fell[:n]).
				Delete(&models.VisitorPresence{}).Error
			if err != nil {
				return err
			}
			fell = fell[n:]
		}
		return nil
	})
	return s.mapErr(err, "change visitor connections")
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
