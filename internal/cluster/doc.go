// Package cluster tests Kefu as a cluster: several real kefu processes on
// one PostgreSQL schema and one Redis or NATS bus, with shoppers and agents
// (the Go client) spread over them, and one instance killed mid-test. It
// has no code of its own besides the tests and their helpers; it needs the
// services named in internal/testenv and skips (or, with
// KEFU_REQUIRE_SERVICES=1, fails) without them.
package cluster
