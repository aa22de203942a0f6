package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"gorm.io/gorm"

	"github.com/kefu-chat/kefu/models"
)

// SQLite runs one writer at a time, and a commit costs about as much as the
// few statements of a chat message put together (profiled at 1,000 chats:
// BEGIN and COMMIT were a quarter of the write path). So on SQLite every
// write transaction of this process goes to one goroutine, which runs
// whatever has queued up meanwhile in a single transaction — each caller's
// function under its own savepoint, so one caller's error undoes only its
// own changes — commits once, and only then answers every caller. Nothing
// is acknowledged before its commit; under low load a batch is one
// transaction and nothing waits for company.
//
// PostgreSQL takes row locks and runs writers side by side; it keeps one
// transaction per call.

// maxBatch bounds one group commit: enough to amortize the commit, small
// enough that the first caller in a batch does not wait long for the last.
const maxBatch = 128

// errClosed answers writes that arrive after Close.
var errClosed = &models.Error{Code: models.EUNAVAILABLE, Message: "database is closed"}

// writeOp is one caller's transaction function, waiting for its batch.
type writeOp struct {
	ctx  context.Context
	fn   func(tx *gorm.DB) error
	done chan error // buffered: the writer never blocks on an answer
}

// opPanic carries a panic from a transaction function back to its caller's
// goroutine, where it is raised again, as gorm.Transaction would.
type opPanic struct{ value any }

func (p opPanic) Error() string { return fmt.Sprintf("panic in transaction: %v", p.value) }

// batcher owns the SQLite writer goroutine.
type batcher struct {
	ops      chan *writeOp // unbuffered: a send succeeds only once the writer has taken the op
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

func (s *Store) startBatcher() {
	s.batch = &batcher{ops: make(chan *writeOp), stop: make(chan struct{})}
	s.batch.wg.Add(1)
	go s.runBatches()
}

// stopBatcher ends the writer goroutine after the batch in hand; later
// writes get errClosed. Safe to call twice.
func (s *Store) stopBatcher() {
	if s.batch == nil {
		return
	}
	s.batch.stopOnce.Do(func() { close(s.batch.stop) })
	s.batch.wg.Wait()
}

// batched hands fn to the writer goroutine and waits for its commit.
func (s *Store) batched(ctx context.Context, fn func(tx *gorm.DB) error) error {
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.batch.ops <- op:
	case <-s.batch.stop:
		return errClosed
	case <-ctx.Done():
		return ctx.Err() // never taken: nothing ran
	}
	// Once taken, the op's fate is decided by its batch's commit, which
	// does not wait for anything but the database: the answer must be
	// waited for even if ctx ends, or a committed write could be reported
	// as failed.
	err := <-op.done
	var p opPanic
	if errors.As(err, &p) {
		panic(p.value)
	}
	return err
}

func (s *Store) runBatches() {
	defer s.batch.wg.Done()
	batch := make([]*writeOp, 0, maxBatch)
	for {
		select {
		case op := <-s.batch.ops:
			batch = append(batch[:0], op)
		case <-s.batch.stop:
			return
		}
		// Take whoever is already waiting; never wait for more.
	fill:
		for len(batch) < maxBatch {
			select {
			case op := <-s.batch.ops:
				batch = append(batch, op)
			default:
				break fill
			}
		}
		s.commitBatch(batch)
		clear(batch) // let the ops' closures be collected
	}
}

// commitBatch runs the ops in one transaction and answers each.
func (s *Store) commitBatch(batch []*writeOp) {
	results := make([]error, len(batch))
	unlock := s.lockWrites()
	err := s.runBatch(batch, results)
	unlock()
	for i, op := range batch {
		if results[i] == nil {
			results[i] = err
		}
		op.done <- results[i]
	}
}

// runBatch fills results with each op's own error and returns the error
// that befell them all (BEGIN or COMMIT failing).
func (s *Store) runBatch(batch []*writeOp, results []error) error {
	// The statements' context is not any caller's: a caller giving up must
	// not interrupt a statement of its neighbours' transaction (go-sqlite3
	// interrupts on cancellation, and an interrupted write can roll the
	// whole transaction back).
	w := s.writer.WithContext(context.Background())
	if err := w.Exec("BEGIN IMMEDIATE").Error; err != nil {
		return err
	}
	ran := 0
	for i, op := range batch {
		if err := op.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if len(batch) == 1 {
			results[i] = call(op, w)
		} else {
			results[i] = callInSavepoint(op, w)
			if errors.Is(results[i], errTxLost) {
				// SQLite ended the transaction itself (an I/O error, a full
				// disk): nothing in this batch can commit.
				for j := i + 1; j < len(batch); j++ {
					results[j] = errTxLost
				}
				w.Exec("ROLLBACK")
				return errTxLost
			}
		}
		if results[i] == nil {
			ran++
		}
	}
	if ran == 0 {
		return w.Exec("ROLLBACK").Error
	}
	if err := w.Exec("COMMIT").Error; err != nil {
		w.Exec("ROLLBACK") // a failed COMMIT leaves the transaction open
		return err
	}
	return nil
}

// errTxLost says SQLite rolled the whole transaction back on its own.
var errTxLost = errors.New("sqlite: the write transaction was rolled back")

const savepoint = "kefu_op"

// callInSavepoint runs op under a savepoint and undoes exactly its changes
// if it fails.
func callInSavepoint(op *writeOp, tx *gorm.DB) error {
	if err := tx.SavePoint(savepoint).Error; err != nil {
		return fmt.Errorf("%w: %v", errTxLost, err)
	}
	err := call(op, tx)
	if err != nil {
		// ROLLBACK TO fails only if the transaction is gone.
		if rerr := tx.RollbackTo(savepoint).Error; rerr != nil {
			return fmt.Errorf("%w: %v", errTxLost, rerr)
		}
	}
	if rerr := tx.Exec("RELEASE SAVEPOINT " + savepoint).Error; rerr != nil {
		return fmt.Errorf("%w: %v", errTxLost, rerr)
	}
	return err
}

// call runs op's function on tx with the caller's context values but not
// its cancellation (see runBatch), turning a panic into an opPanic.
func call(op *writeOp, tx *gorm.DB) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = opPanic{value: p}
		}
	}()
	return op.fn(tx.WithContext(context.WithoutCancel(op.ctx)))
}
