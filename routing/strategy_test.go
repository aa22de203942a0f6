package routing

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
)

func TestLeastBusyChoice(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	at := func(m int) *time.Time { x := t0.Add(time.Duration(m) * time.Minute); return &x }
	on := Presence{Status: StatusOnline, Connections: 1}
	away := Presence{Status: StatusAway, Connections: 2}
	gone := Presence{Status: StatusOnline, Connections: 0} // in grace
	off := Presence{Status: StatusOffline}

	type agent struct {
		id       string
		open     int
		max      int // 0: default
		disabled bool
		last     *time.Time
		p        Presence
	}
	tests := []struct {
		name        string
		def         int
		agents      []agent
		want        string // "" for nobody
		wantSkipped []string
	}{
		{
			name:   "lowest ratio wins over lowest count",
			def:    5,
			agents: []agent{{id: "a", open: 1, max: 2, p: on}, {id: "b", open: 2, max: 10, p: on}},
			want:   "b", // 2/10 < 1/2
		},
		{
			name:   "lowest count when caps equal",
			def:    3,
			agents: []agent{{id: "a", open: 2, p: on}, {id: "b", open: 1, p: on}, {id: "c", open: 2, p: on}},
			want:   "b",
		},
		{
			name:   "tie: never assigned goes first",
			def:    3,
			agents: []agent{{id: "a", open: 1, last: at(0), p: on}, {id: "b", open: 1, p: on}},
			want:   "b",
		},
		{
			name:   "tie: idle longest goes first",
			def:    3,
			agents: []agent{{id: "a", open: 1, last: at(5), p: on}, {id: "b", open: 1, last: at(2), p: on}, {id: "c", open: 1, last: at(9), p: on}},
			want:   "b",
		},
		{
			name:   "tie: equal ratio with different caps, then ID",
			def:    3,
			agents: []agent{{id: "b", open: 1, max: 2, p: on}, {id: "a", open: 2, max: 4, p: on}},
			want:   "a",
		},
		{
			name:        "full agents are not candidates",
			def:         2,
			agents:      []agent{{id: "a", open: 2, p: on}, {id: "b", open: 4, max: 5, p: on}},
			want:        "b",
			wantSkipped: []string{"a:full"},
		},
		{
			name:        "own cap below open chats (lowered by an admin) is full",
			def:         5,
			agents:      []agent{{id: "a", open: 3, max: 1, p: on}},
			wantSkipped: []string{"a:full"},
		},
		{
			name: "away, in grace, offline and disabled are excluded however idle",
			def:  5,
			agents: []agent{
				{id: "away", p: away}, {id: "grace", p: gone}, {id: "off", p: off},
				{id: "dis", disabled: true, p: on}, {id: "busy", open: 4, last: at(1), p: on},
			},
			want:        "busy",
			wantSkipped: []string{"away:away", "grace:not_connected", "off:not_connected", "dis:disabled"},
		},
		{
			name:        "nobody eligible",
			def:         5,
			agents:      []agent{{id: "a", p: away}, {id: "b", p: off}},
			wantSkipped: []string{"a:away", "b:not_connected"},
		},
		{name: "no agents", def: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var agents []*models.Agent
			pres := map[string]Presence{}
			for _, a := range tt.agents {
				agents = append(agents, &models.Agent{ID: a.id, OpenChats: a.open, MaxChats: a.max, Disabled: a.disabled, LastAssignedAt: a.last})
				pres[a.id] = a.p
			}
			pool, skipped := candidates(agents, pres, tt.def)
			for _, c := range pool {
				if c.Load >= c.Capacity {
					t.Errorf("candidate %s has load %d, cap %d: should not be a candidate", c.Agent.ID, c.Load, c.Capacity)
				}
			}
			got := ""
			if i := (LeastBusy{}).Pick(&models.Conversation{ID: "c1"}, pool); i >= 0 {
				got = pool[i].Agent.ID
			}
			if got != tt.want {
				t.Errorf("picked %q, want %q", got, tt.want)
			}
			var gotSkipped []string
			for _, s := range skipped {
				gotSkipped = append(gotSkipped, s.ID+":"+s.Why)
			}
			if !slices.Equal(gotSkipped, tt.wantSkipped) {
				t.Errorf("skipped %v, want %v", gotSkipped, tt.wantSkipped)
			}
		})
	}
}

// TestLeastBusySpreads checks that repeated picks, with loads updated the way
// a pass updates them, fill agents evenly relative to their caps.
func TestLeastBusySpreads(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	pool := []Candidate{
		{Agent: &models.Agent{ID: "a"}, Capacity: 2},
		{Agent: &models.Agent{ID: "b"}, Capacity: 4},
		{Agent: &models.Agent{ID: "c"}, Capacity: 2},
	}
	var got []string
	for n := 0; ; n++ {
		var open []Candidate
		for _, c := range pool {
			if c.Load < c.Capacity {
				open = append(open, c)
			}
		}
		i := (LeastBusy{}).Pick(nil, open)
		if i < 0 {
			break
		}
		id := open[i].Agent.ID
		got = append(got, id)
		for j := range pool {
			if pool[j].Agent.ID == id {
				now := t0.Add(time.Duration(n) * time.Second)
				pool[j].Load++
				pool[j].Agent.LastAssignedAt = &now
			}
		}
	}
	// After a,b,c,b all are at half load; the idle longest (a, then c) go next.
	want := []string{"a", "b", "c", "b", "a", "c", "b", "b"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("order %v, want %v", got, want)
	}
}
