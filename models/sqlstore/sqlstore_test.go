package sqlstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/sqlstore"
	"github.com/kefu-chat/kefu/models/storetest"
)

func openSQLite(t *testing.T) models.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "kefu.db"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLiteContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, openSQLite)
}

func TestOpenSQLiteCreatesFolderAndBarePath(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{
		filepath.Join(t.TempDir(), "a", "b", "bare.db"),
		"sqlite:" + filepath.Join(t.TempDir(), "nested", "prefixed.db"),
		"sqlite://" + filepath.Join(t.TempDir(), "url", "style.db"),
	} {
		s, err := sqlstore.Open(t.Context(), dsn, nil)
		if err != nil {
			t.Fatalf("Open(%q): %v", dsn, err)
		}
		if err := s.Ping(t.Context()); err != nil {
			t.Errorf("Ping: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		// Reopening finds the schema in place.
		s, err = sqlstore.Open(t.Context(), dsn, nil)
		if err != nil {
			t.Fatalf("reopen %q: %v", dsn, err)
		}
		s.Close()
	}
}

func TestClosedStoreIsUnavailable(t *testing.T) {
	t.Parallel()
	s, err := sqlstore.Open(t.Context(), filepath.Join(t.TempDir(), "k.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got := models.ErrorCode(s.Ping(t.Context())); got != models.EUNAVAILABLE {
		t.Errorf("Ping on a closed store: code %q, want %q", got, models.EUNAVAILABLE)
	}
	_, err = s.Agent(t.Context(), "x")
	if got := models.ErrorCode(err); got != models.EUNAVAILABLE {
		t.Errorf("Agent on a closed store: code %q, want %q", got, models.EUNAVAILABLE)
	}
}

// TestTwoHandlesOneFile is the CLI writing while the server runs: two
// stores on one SQLite file, each with its own connection pool, write to the
// same conversation and agents at once. No "database is locked" may reach a
// caller, and the invariants hold across both.
func TestTwoHandlesOneFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "shared.db")
	stores := make([]*sqlstore.Store, 2)
	for i := range stores {
		s, err := sqlstore.Open(t.Context(), path, nil)
		if err != nil {
			t.Fatalf("Open handle %d: %v", i, err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	testSharedDatabase(t, stores)
}

// testSharedDatabase races writers on several handles (pools, as separate
// processes would have) to one database and checks the invariants across
// them: gap-free sequence numbers, and an agent's cap never exceeded.
func testSharedDatabase(t *testing.T, stores []*sqlstore.Store) {
	a := storetest.MustCreateAgent(t, stores[0], models.Agent{MaxChats: 3})
	v := storetest.MustCreateVisitor(t, stores[1], models.Visitor{})
	conv := storetest.MustSendVisitorMessage(t, stores[0], v.ID, "hi", storetest.At(0)).Conversation

	var queued []string
	for i := range 10 {
		queued = append(queued, storetest.MustOpenConversation(t, stores[i%len(stores)], storetest.At(i)).ID)
	}

	const perHandle, each = 3, 30
	var wg sync.WaitGroup
	var mu sync.Mutex
	assigned := 0
	for h, s := range stores {
		for w := range perHandle {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					_, err := s.SendVisitorMessage(t.Context(), models.VisitorMessage{
						VisitorID: v.ID, ClientID: fmt.Sprintf("h%d-w%d-%d", h, w, i), Body: "x", Now: storetest.At(100 + i)})
					if err != nil {
						t.Errorf("handle %d: send: %v", h, err)
						return
					}
					// Interleave reads and conditional writes on the same rows.
					if _, err := s.Agent(t.Context(), a.ID); err != nil {
						t.Errorf("handle %d: read agent: %v", h, err)
						return
					}
					c := queued[(w+i)%len(queued)]
					_, err = s.AssignConversation(t.Context(), models.Assignment{ConversationID: c, AgentID: a.ID,
						Capacity: 3, Now: storetest.At(200 + i)})
					switch models.ErrorCode(err) {
					case "":
						mu.Lock()
						assigned++
						mu.Unlock()
					case models.ECONFLICT, models.ECAPACITY:
					default:
						t.Errorf("handle %d: assign: %v", h, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	n := 1 + len(stores)*perHandle*each
	ms, err := stores[1].Messages(t.Context(), conv.ID, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != n || ms[len(ms)-1].Seq != int64(n) {
		t.Errorf("%d messages, last seq %d; want %d gap-free", len(ms), ms[len(ms)-1].Seq, n)
	}
	if got := storetest.MustAgent(t, stores[0], a.ID).OpenChats; got != 3 || assigned != 3 {
		t.Errorf("OpenChats %d after %d successful assignments; want 3 and 3", got, assigned)
	}
}
