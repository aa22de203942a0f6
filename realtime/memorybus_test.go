package realtime_test

import (
	"testing"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/realtime"
	"github.com/kefu-chat/kefu/realtime/bustest"
)

func TestMemoryBus(t *testing.T) {
	bustest.Run(t, func(t *testing.T) (a, b models.Bus) {
		bus := realtime.NewMemoryBus()
		t.Cleanup(func() { _ = bus.Close() })
		return bus, bus
	})
}
