// Package testenv tells tests which real services they may use. Tests that
// need PostgreSQL, Redis or NATS read their URL from KEFU_TEST_POSTGRES,
// KEFU_TEST_REDIS or KEFU_TEST_NATS and skip, saying how to run them, when it
// is unset — unless KEFU_REQUIRE_SERVICES=1 (set by .ci/run), which turns the
// skip into a failure so CI can never pass by skipping.
package testenv

import (
	"os"
	"testing"
)

// Service env vars and the URLs .ci/run sets them to on this machine kind.
const (
	PostgresVar = "KEFU_TEST_POSTGRES" // e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable
	RedisVar    = "KEFU_TEST_REDIS"    // e.g. redis://127.0.0.1:6379/0
	NATSVar     = "KEFU_TEST_NATS"     // e.g. nats://127.0.0.1:4222
	RequireVar  = "KEFU_REQUIRE_SERVICES"
)

// Postgres returns the test PostgreSQL URL or skips tb.
func Postgres(tb testing.TB) string { tb.Helper(); return need(tb, PostgresVar) }

// Redis returns the test Redis URL or skips tb.
func Redis(tb testing.TB) string { tb.Helper(); return need(tb, RedisVar) }

// NATS returns the test NATS URL or skips tb.
func NATS(tb testing.TB) string { tb.Helper(); return need(tb, NATSVar) }

// Required reports whether skipping for a missing service is a failure.
func Required() bool { return os.Getenv(RequireVar) == "1" }

// Need fails tb when a required prerequisite (a service, a browser) is
// missing and KEFU_REQUIRE_SERVICES=1, and skips it otherwise.
func Need(tb testing.TB, what string) {
	tb.Helper()
	if Required() {
		tb.Fatalf("%s is missing and %s=1: CI must not skip this test", what, RequireVar)
	}
	tb.Skipf("%s is missing: skipped (set it up, or run .ci/run, to run this test)", what)
}

func need(tb testing.TB, name string) string {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		Need(tb, name+" (a service URL)")
	}
	return v
}
