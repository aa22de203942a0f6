package sqlstore_test

import (
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the admin connection that makes and drops test schemas

	"github.com/kefu-chat/kefu/internal/testenv"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/sqlstore"
	"github.com/kefu-chat/kefu/models/storetest"
)

func freshSchema(t *testing.T) string {
	t.Helper()
	return testenv.PostgresSchema(t, "kefu_test_")
}

func openPostgres(t *testing.T) *sqlstore.Store {
	t.Helper()
	dsn := freshSchema(t)
	s, err := sqlstore.Open(t.Context(), dsn, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgresContract(t *testing.T) {
	t.Parallel()
	testenv.Postgres(t)
	storetest.Run(t, func(t *testing.T) models.Store { return openPostgres(t) })
}

// TestPostgresConcurrentMigrations starts three instances at once on an
// empty schema: the advisory lock must let all of them come up.
func TestPostgresConcurrentMigrations(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	const n = 3
	stores := make([]*sqlstore.Store, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := sqlstore.Open(t.Context(), dsn, nil)
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
				return
			}
			t.Cleanup(func() { s.Close() })
			stores[i] = s
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// They share one schema: what one writes, the others read.
	a := storetest.MustCreateAgent(t, stores[0], models.Agent{})
	for i, s := range stores[1:] {
		if _, err := s.Agent(t.Context(), a.ID); err != nil {
			t.Errorf("store %d does not see store 0's agent: %v", i+1, err)
		}
	}
	testSharedDatabase(t, stores)
}

func TestPostgresUnavailable(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1 of loopback.
	_, err := sqlstore.Open(t.Context(), "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", nil)
	if got := models.ErrorCode(err); got != models.EUNAVAILABLE {
		t.Errorf("Open on a closed port: code %q (%v), want %q", got, err, models.EUNAVAILABLE)
	}
}
