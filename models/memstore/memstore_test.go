package memstore_test

import (
	"testing"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/memstore"
	"github.com/kefu-chat/kefu/models/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) models.Store {
		s := memstore.New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestClosed(t *testing.T) {
	s := memstore.New()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if got := models.ErrorCode(s.Ping(t.Context())); got != models.EUNAVAILABLE {
		t.Errorf("Ping after Close: %q, want %q", got, models.EUNAVAILABLE)
	}
}
