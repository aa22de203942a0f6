package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsAreValid(t *testing.T) {
	c, _, err := Load("kefu", nil, env(nil))
	if err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.Addr != "127.0.0.1:8080" || c.Data != "./data" || c.PublicURL != "http://127.0.0.1:8080" || c.Bus != "memory" || c.DB != "" {
		t.Errorf("defaults = addr %q data %q public %q bus %q db %q", c.Addr, c.Data, c.PublicURL, c.Bus, c.DB)
	}
	if c.AccessTTL != 15*time.Minute || c.MaxMessageBytes != 4096 || c.MaxFrameBytes != 64*1024 || c.GracePeriod != time.Minute {
		t.Errorf("limits = %s %d %d %s", c.AccessTTL, c.MaxMessageBytes, c.MaxFrameBytes, c.GracePeriod)
	}
}

func TestEnvironmentAndFlags(t *testing.T) {
	e := env(map[string]string{
		"KEFU_ADDR":            "0.0.0.0:9000",
		"KEFU_DATA":            "/var/lib/kefu",
		"KEFU_ALLOWED_ORIGINS": " https://shop.example , https://www.shop.example ",
		"KEFU_GRACE_PERIOD":    "90s",
		"KEFU_PUBLIC_URL":      "https://chat.shop.example/",
	})
	c, _, err := Load("kefu", []string{"--addr", "127.0.0.1:9999", "--max-message-bytes", "2000"}, e)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9999" {
		t.Errorf("addr %q: the flag must win over the environment", c.Addr)
	}
	if c.Data != "/var/lib/kefu" || c.GracePeriod != 90*time.Second || c.MaxMessageBytes != 2000 {
		t.Errorf("data %q grace %s max %d", c.Data, c.GracePeriod, c.MaxMessageBytes)
	}
	if got := strings.Join(c.AllowedOrigins, "|"); got != "https://shop.example|https://www.shop.example" {
		t.Errorf("allowed origins %q", got)
	}
	if c.PublicURL != "https://chat.shop.example" {
		t.Errorf("public URL %q, want the trailing slash dropped", c.PublicURL)
	}
}

func TestBadSettings(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"addr without port", nil, []string{"--addr", "localhost"}, "addr"},
		{"public URL scheme", map[string]string{"KEFU_PUBLIC_URL": "ftp://x"}, nil, "public-url"},
		{"origin with a path", nil, []string{"--allowed-origins", "https://shop.example/cart"}, "allowed-origins"},
		{"unknown database", nil, []string{"--db", "mysql://x"}, "db"},
		{"unknown bus", nil, []string{"--bus", "kafka://x"}, "bus"},
		{"short JWT key", nil, []string{"--jwt-key", "short"}, "jwt-key"},
		{"long access tokens", nil, []string{"--access-ttl", "1h"}, "access-ttl"},
		{"not a duration", map[string]string{"KEFU_GRACE_PERIOD": "soon"}, nil, "KEFU_GRACE_PERIOD"},
		{"not a number", nil, []string{"--default-max-chats", "many"}, "many"},
		{"zero cap", nil, []string{"--default-max-chats", "0"}, "default-max-chats"},
		{"text longer than frames", nil, []string{"--max-message-bytes", "100000"}, "max-message-bytes"},
		{"log level", nil, []string{"--log-level", "loud"}, "log-level"},
		{"limits elsewhere", nil, []string{"--limits", "memcached://x"}, "limits"},
		{"unknown blob store", map[string]string{"KEFU_BLOBS": "s3"}, nil, "blobs"},
		{"file links that never expire", nil, []string{"--attachment-link-ttl", "720h"}, "attachment-link-ttl"},
		{"file links shorter than their signature's unit", map[string]string{"KEFU_ATTACHMENT_LINK_TTL": "500ms"}, nil, "attachment-link-ttl"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Load("kefu", tc.args, env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// TestLimitsFollowTheBus: rate-limit counts go to the bus's Redis unless
// told otherwise, and stay in memory with the memory or NATS bus.
func TestLimitsFollowTheBus(t *testing.T) {
	for _, tc := range []struct{ bus, limits, want string }{
		{"memory", "", ""},
		{"redis://r:6379/0", "", "redis://r:6379/0"},
		{"redis://r:6379/0", "memory", ""},
		{"nats://n:4222", "", ""},
		{"nats://n:4222", "redis://r:6379/1", "redis://r:6379/1"},
		{"memory", "rediss://r:6380/0", "rediss://r:6380/0"},
	} {
		c, _, err := Load("kefu", []string{"--bus", tc.bus, "--limits", tc.limits}, env(nil))
		if err != nil {
			t.Fatalf("bus %s limits %q: %v", tc.bus, tc.limits, err)
		}
		if got := c.LimitsRedis(); got != tc.want {
			t.Errorf("bus %s limits %q: counts in %q, want %q", tc.bus, tc.limits, got, tc.want)
		}
	}
}

func TestEverySettingHasAnEnvironmentVariable(t *testing.T) {
	c := Default()
	var usage strings.Builder
	fs := c.FlagSet("kefu")
	fs.SetOutput(&usage)
	fs.PrintDefaults()
	for _, s := range c.settings() {
		if !strings.Contains(usage.String(), envName(s.name)) {
			t.Errorf("flag -%s does not name %s", s.name, envName(s.name))
		}
	}
}
