package memstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/kefu-chat/kefu/models"
)

type presenceKey struct{ agent, instance string }

// SyncPresence implements models.PresenceStore.
func (s *Store) SyncPresence(_ context.Context, instanceID string, rows []models.AgentPresence, now time.Time) error {
	if instanceID == "" {
		return models.Errorf(models.EINVALID, "instance id is empty")
	}
	seen := make(map[string]bool, len(rows))
	for _, r := range rows {
		if r.AgentID == "" || r.Connections < 1 {
			return models.Errorf(models.EINVALID, "a presence row needs an agent id and at least one connection")
		}
		if seen[r.AgentID] {
			return models.Errorf(models.EINVALID, "agent %s is listed twice", r.AgentID)
		}
		seen[r.AgentID] = true
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.presence == nil {
		s.presence = map[presenceKey]models.AgentPresence{}
	}
	for k := range s.presence {
		if k.instance == instanceID {
			delete(s.presence, k)
		}
	}
	for _, r := range rows {
		r.InstanceID, r.HeartbeatAt = instanceID, now.UTC()
		s.presence[presenceKey{r.AgentID, instanceID}] = r
	}
	return nil
}

// FreshPresence implements models.PresenceStore.
func (s *Store) FreshPresence(_ context.Context, since time.Time) ([]models.AgentPresence, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []models.AgentPresence
	for _, r := range s.presence {
		if !r.HeartbeatAt.Before(since) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b models.AgentPresence) int {
		return cmp.Or(cmp.Compare(a.AgentID, b.AgentID), cmp.Compare(a.InstanceID, b.InstanceID))
	})
	return out, nil
}

// PrunePresence implements models.PresenceStore.
func (s *Store) PrunePresence(_ context.Context, before time.Time) (int, error) {
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := 0
	for k, r := range s.presence {
		if r.HeartbeatAt.Before(before) {
			delete(s.presence, k)
			n++
		}
	}
	return n, nil
}
