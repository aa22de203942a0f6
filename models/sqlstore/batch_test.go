package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/kefu-chat/kefu/models"
)

func openBatching(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "kefu.db"), nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if s.batch == nil {
		t.Fatal("SQLite store has no batch writer")
	}
	return s
}

func agentRow(email string) *models.Agent {
	return &models.Agent{ID: email, Email: email, Name: email, Role: models.RoleAgent, PasswordHash: "x", TokenVersion: 1}
}

// One group commit holding callers that succeed, fail part-way, panic or
// gave up: each failure undoes exactly its own changes and the rest commit.
func TestGroupCommitIsolatesEachCaller(t *testing.T) {
	s := openBatching(t)
	ctx := t.Context()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	errPartWay := errors.New("failed after writing")
	op := func(ctx context.Context, fn func(tx *gorm.DB) error) *writeOp {
		return &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	}
	create := func(email string) func(tx *gorm.DB) error {
		return func(tx *gorm.DB) error { return tx.Create(agentRow(email)).Error }
	}
	batch := []*writeOp{
		op(ctx, create("a@x")),
		op(ctx, create("a@x")), // unique violation
		op(ctx, func(tx *gorm.DB) error {
			if err := tx.Create(agentRow("partial@x")).Error; err != nil {
				return err
			}
			return errPartWay
		}),
		op(ctx, func(tx *gorm.DB) error {
			if err := tx.Create(agentRow("panicked@x")).Error; err != nil {
				return err
			}
			panic("boom")
		}),
		op(cancelled, create("cancelled@x")),
		op(ctx, create("b@x")),
	}
	s.commitBatch(batch)
	got := make([]error, len(batch))
	for i, o := range batch {
		got[i] = <-o.done
	}
	if got[0] != nil || got[5] != nil {
		t.Errorf("successful callers got %v and %v, want nil", got[0], got[5])
	}
	if !isUnique(got[1]) {
		t.Errorf("duplicate got %v, want a unique violation", got[1])
	}
	if !errors.Is(got[2], errPartWay) {
		t.Errorf("part-way failure got %v", got[2])
	}
	var p opPanic
	if !errors.As(got[3], &p) || p.value != "boom" {
		t.Errorf("panicking caller got %v, want its panic", got[3])
	}
	if !errors.Is(got[4], context.Canceled) {
		t.Errorf("cancelled caller got %v", got[4])
	}
	var emails []string
	if err := s.db.Model(&models.Agent{}).Order("email").Pluck("email", &emails).Error; err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(emails) != "[a@x b@x]" {
		t.Errorf("stored agents %v, want [a@x b@x]", emails)
	}
}

// A panic in a transaction function reaches its caller, as with
// gorm.Transaction, and the writer keeps serving.
func TestGroupCommitPanicReachesCaller(t *testing.T) {
	s := openBatching(t)
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v, want boom", p)
			}
		}()
		s.tx(t.Context(), func(tx *gorm.DB) error { panic("boom") })
	}()
	if err := s.tx(t.Context(), func(tx *gorm.DB) error { return tx.Create(agentRow("after@x")).Error }); err != nil {
		t.Fatalf("write after a panic: %v", err)
	}
}

// Many concurrent writers: every acknowledged write is stored, every refused
// one is not, and calls after Close are refused rather than hang.
func TestGroupCommitUnderConcurrency(t *testing.T) {
	s := openBatching(t)
	const n = 300
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := fmt.Sprintf("agent%d@x", i/2) // every second one is a duplicate
			errs[i] = s.tx(t.Context(), func(tx *gorm.DB) error { return tx.Create(agentRow(email)).Error })
		}()
	}
	wg.Wait()
	ok, dup := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case isUnique(err):
			dup++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	var stored int64
	s.db.Model(&models.Agent{}).Count(&stored)
	if ok != n/2 || dup != n/2 || stored != n/2 {
		t.Errorf("ok %d, duplicates %d, stored %d; want %d each", ok, dup, stored, n/2)
	}
	s.Close()
	err := s.tx(context.Background(), func(tx *gorm.DB) error { return nil })
	if models.ErrorCode(err) != models.EUNAVAILABLE {
		t.Errorf("write after Close: %v, want %s", err, models.EUNAVAILABLE)
	}
}
