package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/internal/testenv"
)

// twoInstances starts two Kefu instances in this process on one fresh
// PostgreSQL schema and one Redis bus under a prefix of the test's own
// (whose keys are deleted when the test ends), with the settings that must
// be equal on every instance, changed by tune.
func twoInstances(t *testing.T, tune func(*config.Config)) (a, b *apptest.Server) {
	t.Helper()
	dsn := freshSchema(t)
	busURL := testenv.Redis(t)
	prefix := "ks" + randomHex(6)
	t.Cleanup(func() { deleteRedisKeys(t, busURL, prefix+":*") })
	key := "shared-test-key-" + randomHex(16)
	start := func() *apptest.Server {
		return apptest.Start(t, apptest.Options{Config: func(c *config.Config) {
			c.DB, c.Bus, c.BusPrefix, c.JWTKey = dsn, busURL, prefix, key
			if tune != nil {
				tune(c)
			}
		}})
	}
	return start(), start()
}

func deleteRedisKeys(t *testing.T, url, pattern string) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Errorf("redis url: %v", err)
		return
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx := context.Background()
	keys, err := c.Keys(ctx, pattern).Result()
	if err == nil && len(keys) > 0 {
		err = c.Del(ctx, keys...).Err()
	}
	if err != nil {
		t.Errorf("deleting the test's redis keys: %v", err)
	}
}

func tryLogin(t *testing.T, srv *apptest.Server, email, pw string) *http.Response {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	resp, err := http.Post(srv.URL+"/api/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("login at %s: %v", srv.URL, err)
	}
	resp.Body.Close()
	return resp
}

// TestSharedLoginLimits: with a Redis bus the login counters are Redis's,
// so what a guesser does through one instance counts on the other: the
// attempts per IP add up, and failures through A lock the account on B.
func TestSharedLoginLimits(t *testing.T) {
	t.Run("attempts per IP add up", func(t *testing.T) {
		a, b := twoInstances(t, func(c *config.Config) { c.LoginAttemptsPerIP = 4 })
		for i, srv := range []*apptest.Server{a, b, a, b} {
			if got := tryLogin(t, srv, "nobody@shop.test", "guess").StatusCode; got != http.StatusUnauthorized {
				t.Fatalf("attempt %d: HTTP %d, want 401", i+1, got)
			}
		}
		for _, srv := range []*apptest.Server{a, b} {
			resp := tryLogin(t, srv, apptest.AdminEmail, apptest.AdminPassword)
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
				t.Errorf("5th attempt from one address at %s: HTTP %d, want 429 with Retry-After (2 attempts on each instance, 4 in all)",
					srv.URL, resp.StatusCode)
			}
		}
	})
	t.Run("failures through A lock the account on B", func(t *testing.T) {
		a, b := twoInstances(t, func(c *config.Config) { c.LoginFailuresFree = 2 })
		a.CreateAgent(t, "li@shop.test", "Li Na", "agent", "the-right-password")
		// The third failure starts a lock of 1 s (the policy's first). B
		// must refuse even the right password within it. A machine slow
		// enough to let the second pass between two requests gets a few
		// more rounds; B's success resets the shared count for the next.
		for round := 1; ; round++ {
			for i := 0; i < 3; i++ {
				tryLogin(t, a, "li@shop.test", "wrong")
			}
			resp := tryLogin(t, b, "li@shop.test", "the-right-password")
			if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "" {
				break
			}
			if round == 5 {
				t.Fatalf("B answered HTTP %d to the right password after 3 failures through A, 5 times; want 429", resp.StatusCode)
			}
		}
	})
}
