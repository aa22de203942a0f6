// Package sqlstore is the GORM implementation of models.Store, on SQLite (the
// default: one file, no server) or PostgreSQL (for several Kefu instances).
//
// Every guarantee of the contract rests on the database, not on this
// process: sequence numbers come from a conditional UPDATE of the
// conversation's last_seq inside the transaction that inserts the message,
// assignment from conditional UPDATEs of the conversation's status and the
// agent's open_chats, and idempotency from the unique index on
// (sender_id, client_id). So two dispatchers, two Kefu instances, or the CLI
// writing while the server runs cannot contradict each other.
//
// On SQLite every transaction begins IMMEDIATE (it takes the write lock up
// front), so a transaction that read something never has to upgrade to a
// writer — the upgrade is what fails with "database is locked" regardless of
// the busy timeout. On PostgreSQL rows read before a decision are locked
// with SELECT … FOR UPDATE, and migrations run under an advisory lock so
// instances starting together do not race to create the same tables.
//
// Store.Blobs is a models.BlobStore in the same database (KEFU_BLOBS=db):
// attachments' bytes in chunks, each blob stored in one transaction.
//
// A *Store is safe for concurrent use by many goroutines.
package sqlstore
