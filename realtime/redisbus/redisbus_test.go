package redisbus_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kefu-chat/kefu/internal/testenv"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/realtime/bustest"
	"github.com/kefu-chat/kefu/realtime/redisbus"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var seq atomic.Int64

// MustOpenPair opens two clients on one Redis with a prefix of their own,
// as two Kefu instances would, and closes them when tb ends.
func MustOpenPair(t *testing.T) (a, b models.Bus) {
	t.Helper()
	url := testenv.Redis(t)
	prefix := fmt.Sprintf("kefutest:%d:%d:", time.Now().UnixNano(), seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ba, err := redisbus.Open(ctx, url, prefix)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = ba.Close() })
	bb, err := redisbus.Open(ctx, url, prefix)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = bb.Close() })
	return ba, bb
}

func TestBus(t *testing.T) { bustest.Run(t, MustOpenPair) }

func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Port 1 on loopback: nothing listens there.
	_, err := redisbus.Open(ctx, "redis://127.0.0.1:1/0", "x:")
	if got, want := models.ErrorCode(err), models.EUNAVAILABLE; got != want {
		t.Fatalf("Open on a closed port: code %q (%v), want %q", got, err, want)
	}
	_, err = redisbus.Open(ctx, "not a url", "x:")
	if got, want := models.ErrorCode(err), models.EINVALID; got != want {
		t.Fatalf("Open with a bad url: code %q (%v), want %q", got, err, want)
	}
}
