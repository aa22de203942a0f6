package memstore

import (
	"context"
	"time"

	"github.com/kefu-chat/kefu/models"
)

type visitorKey struct{ visitor, instance string }

// visitorPresence is the state of the VisitorPresenceStore methods; nil
// until first used.
type visitorPresence struct {
	rows  map[visitorKey]models.VisitorPresence // keyed by (visitor, instance)
	beats map[string]time.Time
}

func (s *Store) vp() *visitorPresence {
	if s.visitorPres == nil {
		s.visitorPres = &visitorPresence{rows: map[visitorKey]models.VisitorPresence{}, beats: map[string]time.Time{}}
	}
	return s.visitorPres
}

func checkIDs(ids ...string) error {
	for _, id := range ids {
		if id == "" {
			return models.Errorf(models.EINVALID, "instance and visitor ids are required")
		}
	}
	return nil
}

// ChangeVisitorConnections implements models.VisitorPresenceStore.
func (s *Store) ChangeVisitorConnections(_ context.Context, instanceID string, deltas map[string]int, now time.Time) error {
	if err := checkIDs(instanceID); err != nil {
		return err
	}
	for id := range deltas {
		if err := checkIDs(id); err != nil {
			return err
		}
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for id, d := range deltas {
		k := visitorKey{id, instanceID}
		r, ok := s.vp().rows[k]
		if !ok {
			r = models.VisitorPresence{VisitorID: id, InstanceID: instanceID, ConnectedAt: now.UTC()}
		}
		if r.Connections += d; r.Connections <= 0 {
			delete(s.vp().rows, k)
		} else {
			s.vp().rows[k] = r
		}
	}
	return nil
}

// BeatInstance implements models.VisitorPresenceStore.
func (s *Store) BeatInstance(_ context.Context, instanceID string, now time.Time) error {
	if err := checkIDs(instanceID); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.vp().beats[instanceID] = now.UTC()
	return nil
}

// VisitorConnectedElsewhere implements models.VisitorPresenceStore.
func (s *Store) VisitorConnectedElsewhere(_ context.Context, visitorID, instanceID string, since time.Time) (bool, error) {
	if err := checkIDs(instanceID, visitorID); err != nil {
		return false, err
	}
	if err := s.lock(); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	v := s.vp()
	for k, r := range v.rows {
		if k.visitor != visitorID || k.instance == instanceID || r.Connections <= 0 {
			continue
		}
		if beat, ok := v.beats[k.instance]; ok && !beat.Before(since) {
			return true, nil
		}
	}
	return false, nil
}

// LeaveInstance implements models.VisitorPresenceStore.
func (s *Store) LeaveInstance(_ context.Context, instanceID string) error {
	if err := checkIDs(instanceID); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	v := s.vp()
	for k := range v.rows {
		if k.instance == instanceID {
			delete(v.rows, k)
		}
	}
	delete(v.beats, instanceID)
	return nil
}

// PruneInstances implements models.VisitorPresenceStore.
func (s *Store) PruneInstances(_ context.Context, before time.Time) (int, error) {
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	v := s.vp()
	dead := map[string]bool{}
	for id, beat := range v.beats {
		if beat.Before(before) {
			dead[id] = true
		}
	}
	for k, r := range v.rows {
		_, beating := v.beats[k.instance]
		if dead[k.instance] || !beating && r.ConnectedAt.Before(before) {
			delete(v.rows, k)
		}
	}
	for id := range dead {
		delete(v.beats, id)
	}
	return len(dead), nil
}
