package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
)

// presenceTests are the PresenceStore contract's subtests; Run runs them
// with the others.
var presenceTests = []struct {
	name string
	fn   func(t *testing.T, s models.Store)
}{
	{"PresenceSync", testPresenceSync},
	{"PresenceInvalid", testPresenceInvalid},
	{"PresenceStaleAndPrune", testPresenceStale},
	{"PresenceConcurrentInstances", testPresenceConcurrent},
}

func presenceKeys(rows []models.AgentPresence) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.AgentID + "@" + r.InstanceID
	}
	return out
}

func mustFresh(t *testing.T, s models.Store, since time.Time) []models.AgentPresence {
	t.Helper()
	rows, err := s.FreshPresence(t.Context(), since)
	if err != nil {
		t.Fatalf("FreshPresence: %v", err)
	}
	return rows
}

func mustSync(t *testing.T, s models.Store, instance string, rows []models.AgentPresence, now time.Time) {
	t.Helper()
	if err := s.SyncPresence(t.Context(), instance, rows, now); err != nil {
		t.Fatalf("SyncPresence(%s): %v", instance, err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testPresenceSync(t *testing.T, s models.Store) {
	mustSync(t, s, "i1", []models.AgentPresence{
		{AgentID: "b", Connections: 2, Status: "online"},
		{AgentID: "a", Connections: 1, Status: "away", InstanceID: "ignored"},
	}, At(0))
	mustSync(t, s, "i2", []models.AgentPresence{{AgentID: "a", Connections: 1, Status: "online"}}, At(10))

	rows := mustFresh(t, s, At(0))
	if got, want := presenceKeys(rows), []string{"a@i1", "a@i2", "b@i1"}; !equalStrings(got, want) {
		t.Fatalf("rows %v, want %v (ordered by agent, then instance)", got, want)
	}
	if r := rows[0]; r.Status != "away" || r.Connections != 1 || !r.HeartbeatAt.Equal(At(0)) {
		t.Errorf("a@i1 = %+v, want away, 1 connection, heartbeat %v", r, At(0))
	}
	if r := rows[2]; r.Connections != 2 || r.Status != "online" {
		t.Errorf("b@i1 = %+v, want online with 2 connections", r)
	}

	// A sync replaces the instance's rows: b left i1, c arrived.
	mustSync(t, s, "i1", []models.AgentPresence{{AgentID: "c", Connections: 1, Status: "online"}}, At(20))
	if got, want := presenceKeys(mustFresh(t, s, At(0))), []string{"a@i2", "c@i1"}; !equalStrings(got, want) {
		t.Errorf("after resync: %v, want %v", got, want)
	}
	// An empty sync (clean shutdown) deletes the instance's rows only.
	mustSync(t, s, "i1", nil, At(30))
	if got, want := presenceKeys(mustFresh(t, s, At(0))), []string{"a@i2"}; !equalStrings(got, want) {
		t.Errorf("after empty sync: %v, want %v", got, want)
	}
}

func testPresenceInvalid(t *testing.T, s models.Store) {
	mustSync(t, s, "i1", []models.AgentPresence{{AgentID: "a", Connections: 1, Status: "online"}}, At(0))
	for _, tc := range []struct {
		name     string
		instance string
		rows     []models.AgentPresence
	}{
		{"no instance", "", []models.AgentPresence{{AgentID: "x", Connections: 1}}},
		{"no agent", "i1", []models.AgentPresence{{Connections: 1}}},
		{"no connections", "i1", []models.AgentPresence{{AgentID: "x"}}},
		{"agent twice", "i1", []models.AgentPresence{{AgentID: "x", Connections: 1}, {AgentID: "x", Connections: 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.SyncPresence(t.Context(), tc.instance, tc.rows, At(5))
			wantCode(t, "SyncPresence", err, models.EINVALID)
		})
	}
	// A refused sync changed nothing.
	rows := mustFresh(t, s, At(0))
	if got, want := presenceKeys(rows), []string{"a@i1"}; !equalStrings(got, want) || !rows[0].HeartbeatAt.Equal(At(0)) {
		t.Errorf("after refused syncs: %v (%v), want %v written at %v", got, rows, want, At(0))
	}
}

func testPresenceStale(t *testing.T, s models.Store) {
	mustSync(t, s, "old", []models.AgentPresence{{AgentID: "a", Connections: 1, Status: "online"}}, At(0))
	mustSync(t, s, "new", []models.AgentPresence{{AgentID: "b", Connections: 1, Status: "online"}}, At(1000))

	if got, want := presenceKeys(mustFresh(t, s, At(1000))), []string{"b@new"}; !equalStrings(got, want) {
		t.Errorf("fresh since 1s: %v, want %v (since is inclusive)", got, want)
	}
	if got, want := presenceKeys(mustFresh(t, s, At(1001))), []string{}; !equalStrings(got, want) {
		t.Errorf("fresh since 1.001s: %v, want none", got)
	}
	n, err := s.PrunePresence(t.Context(), At(1000))
	if err != nil {
		t.Fatalf("PrunePresence: %v", err)
	}
	if n != 1 {
		t.Errorf("pruned %d rows, want 1", n)
	}
	if got, want := presenceKeys(mustFresh(t, s, At(0))), []string{"b@new"}; !equalStrings(got, want) {
		t.Errorf("after prune: %v, want %v", got, want)
	}
}

// testPresenceConcurrent syncs several instances at once, many times: each
// instance's last sync is what remains, and no reader ever sees an instance
// with rows missing (a sync is one transaction).
func testPresenceConcurrent(t *testing.T, s models.Store) {
	const instances, rounds, agents = 4, 15, 5
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var readErr error
	var readMu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			rows, err := s.FreshPresence(t.Context(), At(0))
			if err != nil {
				readMu.Lock()
				readErr = err
				readMu.Unlock()
				return
			}
			per := map[string]int{}
			for _, r := range rows {
				per[r.InstanceID]++
			}
			for inst, n := range per {
				if n != agents {
					readMu.Lock()
					readErr = models.Errorf(models.EINTERNAL, "instance %s had %d rows, want %d: a torn sync", inst, n, agents)
					readMu.Unlock()
					return
				}
			}
		}
	}()
	var writers sync.WaitGroup
	for i := range instances {
		writers.Add(1)
		go func() {
			defer writers.Done()
			inst := "inst-" + string(rune('a'+i))
			for r := range rounds {
				rows := make([]models.AgentPresence, agents)
				for k := range rows {
					// The agent set shifts each round, so each sync deletes
					// and inserts.
					rows[k] = models.AgentPresence{AgentID: string(rune('a'+(k+r)%(agents+3))) + "-agent", Connections: r + 1, Status: "online"}
				}
				if err := s.SyncPresence(t.Context(), inst, rows, At(r)); err != nil {
					t.Errorf("SyncPresence %s round %d: %v", inst, r, err)
					return
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	rows := mustFresh(t, s, At(0))
	if len(rows) != instances*agents {
		t.Fatalf("%d rows, want %d", len(rows), instances*agents)
	}
	for _, r := range rows {
		if r.Connections != rounds || !r.HeartbeatAt.Equal(At(rounds-1)) {
			t.Errorf("row %s@%s = %d connections at %v, want the last round's (%d at %v)", r.AgentID, r.InstanceID, r.Connections, r.HeartbeatAt, rounds, At(rounds-1))
		}
	}
}
