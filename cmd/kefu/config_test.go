package main

import (
	"testing"

	"github.com/kefu-chat/kefu/config"
)

func testConfig(t *testing.T, data string) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Data = data
	cfg.Finish()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}
