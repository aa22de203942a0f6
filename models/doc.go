// Package models holds Kefu's domain: the types every other package speaks
// (Agent, Visitor, Conversation, Message, RefreshToken), the one error type
// with its codes, and the interfaces of the parts that keep and carry them
// (Store, Bus) together with their contracts.
//
// Nothing here talks to a network or a database; implementations live in
// subpackages named after their technology (sqlstore, memstore) and in
// realtime. The contract a Store or Bus must honour is written once, in the
// doc comments below, and checked by the suites in storetest and bustest,
// which every implementation runs unchanged.
//
// Values returned by a Store are copies owned by the caller; all types are
// safe to share between goroutines once no longer modified.
package models
