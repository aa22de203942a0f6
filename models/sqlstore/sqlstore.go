package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	gormlogger "gorm.io/gorm/logger"

	"github.com/kefu-chat/kefu/models"
)

var _ models.Store = (*Store)(nil)

// Store keeps Kefu's data in SQLite or PostgreSQL. Create it with Open.
type Store struct {
	db    *gorm.DB
	sqlDB *sql.DB
	// writer runs write transactions. On SQLite it is one connection
	// (writerConn, from its own pool writerDB) with prepared statements
	// kept, used only by the batch goroutine (batch.go); on PostgreSQL it
	// is db.
	writer     *gorm.DB
	writerConn *sql.Conn
	writerDB   *sql.DB
	batch      *batcher
	postgres   bool
	logger     *slog.Logger

	// writes queues this process's SQLite writers. SQLite runs one writer
	// at a time whatever we do; without this queue the others wait inside
	// SQLite's busy handler, which sleeps in steps of up to 100 ms and
	// turned a few hundred concurrent chats into seconds of tail latency.
	// Writers in other processes (the CLI) still wait in the busy handler.
	writes sync.Mutex
}

// lockWrites holds the SQLite write queue until the returned func is
// called; on PostgreSQL, whose row locks let writers run side by side, it
// does nothing.
func (s *Store) lockWrites() func() {
	if s.postgres {
		return func() {}
	}
	s.writes.Lock()
	return s.writes.Unlock
}

// sqliteParams are appended to every SQLite DSN. WAL lets readers run beside
// the writer; _txlock=immediate makes every transaction take the write lock
// at BEGIN, so no transaction ever has to upgrade from reader to writer (the
// upgrade is what fails with "database is locked" whatever the busy timeout);
// the busy timeout makes writers, in this process or another, wait for each
// other instead of failing. The driver keeps each connection's last 128
// statements prepared: preparing them afresh was a sixth of the chat path.
// (GORM's own PrepareStmt starts a goroutine per store that never ends.)
const sqliteParams = "_journal_mode=WAL&_busy_timeout=10000&_txlock=immediate&_foreign_keys=on&_synchronous=NORMAL&_stmt_cache_size=128"

// Open connects to the database named by dsn and migrates its schema.
// dsn is "sqlite:/path/to/file.db" or a bare path for SQLite (the parent
// folder is created), or a "postgres://" or "postgresql://" URL. logger
// receives slow queries and database errors; nil discards them.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{logger: logger}
	var dialector gorm.Dialector
	var sqliteDSN string
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s.postgres = true
		dialector = postgres.Open(dsn)
	default:
		path := strings.TrimPrefix(dsn, "sqlite:")
		path = strings.TrimPrefix(path, "//") // sqlite:///abs/path is /abs/path
		if path == "" {
			return nil, models.Errorf(models.EINVALID, "sqlite database path is empty")
		}
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i] // our parameters are the ones that make the store correct
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, models.Internal(err, "create database folder")
		}
		sqliteDSN = "file:" + path + "?" + sqliteParams
		dialector = sqlite.Open(sqliteDSN)
	}

	db, err := gorm.Open(dialector, &gorm.Config{
		Logger:                 &gormLog{logger: logger},
		SkipDefaultTransaction: true, // single statements are atomic; our transactions are explicit
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		return nil, s.mapErr(err, "open database")
	}
	s.db = db
	s.sqlDB, err = db.DB()
	if err != nil {
		return nil, models.Internal(err, "open database")
	}
	if s.postgres {
		s.sqlDB.SetMaxOpenConns(10)
		s.sqlDB.SetMaxIdleConns(5)
	} else {
		s.sqlDB.SetMaxOpenConns(8)
		s.sqlDB.SetMaxIdleConns(8)
	}
	s.sqlDB.SetConnMaxIdleTime(5 * time.Minute)

	if err := s.migrate(ctx); err != nil {
		s.sqlDB.Close()
		return nil, err
	}
	s.writer, s.writerDB = s.db, s.sqlDB
	if !s.postgres {
		if err := s.openWriter(ctx, sqliteDSN); err != nil {
			s.sqlDB.Close()
			return nil, err
		}
		s.startBatcher()
	}
	return s, nil
}

// openWriter opens SQLite's writing connection: one *sql.Conn held for
// the store's life, used only by the batch goroutine (batch.go), so its
// cached prepared statements are always the ones at hand. Its group
// commits are plain BEGIN/SAVEPOINT/COMMIT statements on that connection.
func (s *Store) openWriter(ctx context.Context, dsn string) error {
	wdb, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return models.Internal(err, "open database")
	}
	wdb.SetMaxOpenConns(1)
	conn, err := wdb.Conn(ctx)
	if err != nil {
		wdb.Close()
		return s.mapErr(err, "open database")
	}
	w, err := gorm.Open(sqlite.New(sqlite.Config{Conn: conn}), &gorm.Config{
		Logger:                 &gormLog{logger: s.logger},
		SkipDefaultTransaction: true,
		DisableAutomaticPing:   true, // GORM pings only whole pools; Conn above just answered
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		conn.Close()
		wdb.Close()
		return s.mapErr(err, "open database")
	}
	// Sorting a visitor's open conversations and savepoints' statement
	// journals use temporary storage; in memory it costs no file I/O.
	if err := w.Exec("PRAGMA temp_store = MEMORY").Error; err != nil {
		conn.Close()
		wdb.Close()
		return s.mapErr(err, "open database")
	}
	s.writer, s.writerConn, s.writerDB = w, conn, wdb
	return nil
}

// tables are migrated in this order.
func tables() []any {
	return append([]any{
		&models.Agent{}, &models.RefreshToken{}, &models.Visitor{},
		&models.Conversation{}, &message{}, &models.AssignmentRecord{},
		&models.Announcement{}, &models.AnnouncementSeen{},
		&models.Attachment{},
	}, append(append(append(routingTables(), presenceTables()...), blobTables()...), visitorPresenceTables()...)...)
}

func (s *Store) migrate(ctx context.Context) error {
	if !s.postgres {
		// One SQLite file may be opened by several processes at once too; the
		// DDL statements run one at a time under SQLite's own write lock,
		// and a table created meanwhile by another process is found by
		// AutoMigrate's "has table" check on retry.
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			if err = s.db.WithContext(ctx).AutoMigrate(tables()...); err == nil {
				return nil
			}
		}
		return s.mapErr(err, "migrate database")
	}
	// Several instances may start at once against one database: hold an
	// advisory lock on a dedicated connection while migrating, so only one
	// of them creates tables and indexes at a time. The key is per schema,
	// so migrations of different schemas (tests) do not wait on each other.
	conn, err := s.sqlDB.Conn(ctx)
	if err != nil {
		return s.mapErr(err, "migrate database")
	}
	defer conn.Close()
	const key = "hashtext('kefu.migrate.' || current_schema())"
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock("+key+")"); err != nil {
		return s.mapErr(err, "lock for migration")
	}
	defer func() {
		// A fresh context: the lock must be released even if ctx is done.
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(uctx, "SELECT pg_advisory_unlock("+key+")"); err != nil {
			s.logger.Warn("sqlstore: release migration lock", "err", err)
			conn.Raw(func(any) error { return driver.ErrBadConn }) // drop the connection, and the lock with it
		}
	}()
	if err := s.db.WithContext(ctx).AutoMigrate(tables()...); err != nil {
		return s.mapErr(err, "migrate database")
	}
	return nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.sqlDB.PingContext(ctx); err != nil {
		return s.mapErr(err, "ping database")
	}
	return nil
}

// Close waits for the writes in hand and closes the database connections.
// It is safe to call twice.
func (s *Store) Close() error {
	s.stopBatcher()
	err := s.sqlDB.Close()
	if s.writerConn != nil {
		s.writerConn.Close() // returns it to writerDB, closed next
		err = errors.Join(err, s.writerDB.Close())
	}
	if err != nil {
		return models.Internal(err, "close database")
	}
	return nil
}

// tx runs fn in a transaction. On SQLite it joins the next group commit
// (batch.go): fn must do all its reads and writes through tx and must not
// call tx again. On PostgreSQL a transaction aborted by a deadlock or
// serialization failure is retried: those say nothing about the request,
// only about timing.
func (s *Store) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if s.batch != nil {
		return s.batched(ctx, fn)
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		unlock := s.lockWrites()
		err = s.db.WithContext(ctx).Transaction(fn)
		unlock()
		if !s.postgres || !isRetryable(err) {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	return err
}

// forUpdate locks the selected rows until the transaction ends on
// PostgreSQL. SQLite needs no such clause (and GORM's dialect rejects it):
// its immediate transactions already hold the database's write lock.
func (s *Store) forUpdate(tx *gorm.DB) *gorm.DB {
	if s.postgres {
		return tx.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return tx
}

// mapErr turns a database error into a *models.Error. Errors that already
// are one pass through unchanged.
func (s *Store) mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	var me *models.Error
	if errors.As(err, &me) {
		return err
	}
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return models.Errorf(models.ENOTFOUND, "%s: not found", what)
	case isUnique(err):
		return &models.Error{Code: models.ECONFLICT, Message: what + ": already exists", Err: err}
	case isUnavailable(err):
		s.logger.Warn("sqlstore: database unavailable", "op", what, "err", err)
		return &models.Error{Code: models.EUNAVAILABLE, Message: "database unavailable", Err: err}
	}
	return models.Internal(err, what)
}

func isUnique(err error) bool {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return false
}

func isRetryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

func isUnavailable(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked || se.Code == sqlite3.ErrCantOpen
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P01-03: the server is shutting
		// down or cannot accept connections; 53300: too many connections.
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P") || pe.Code == "53300"
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		strings.Contains(err.Error(), "database is closed")
}

// gormLog sends GORM's reports to slog: slow queries as warnings, failed
// queries at debug level (the store maps and returns them; callers decide
// whether they matter).
type gormLog struct{ logger *slog.Logger }

const slowQuery = 500 * time.Millisecond

func (l *gormLog) LogMode(gormlogger.LogLevel) gormlogger.Interface { return l }
func (l *gormLog) Info(ctx context.Context, msg string, args ...any) {
	l.logger.DebugContext(ctx, "gorm: "+fmt.Sprintf(msg, args...))
}
func (l *gormLog) Warn(ctx context.Context, msg string, args ...any) {
	l.logger.WarnContext(ctx, "gorm: "+fmt.Sprintf(msg, args...))
}
func (l *gormLog) Error(ctx context.Context, msg string, args ...any) {
	l.logger.ErrorContext(ctx, "gorm: "+fmt.Sprintf(msg, args...))
}
func (l *gormLog) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	switch {
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound):
		sql, _ := fc()
		l.logger.DebugContext(ctx, "sqlstore: query failed", "err", err, "sql", sql, "elapsed", elapsed)
	case elapsed > slowQuery:
		sql, rows := fc()
		l.logger.WarnContext(ctx, "sqlstore: slow query", "sql", sql, "rows", rows, "elapsed", elapsed)
	}
}
