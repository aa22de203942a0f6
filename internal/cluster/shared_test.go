package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kefu-chat/kefu/client"
	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/internal/smtpsink"
	"github.com/kefu-chat/kefu/internal/testenv"
	"github.com/kefu-chat/kefu/models/wire"
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

// uploadThrough sends data as a shopper's file through srv and returns the
// signed link the answer carries.
func uploadThrough(t *testing.T, srv *apptest.Server, visitorToken, conv string, data []byte) string {
	t.Helper()
	q := url.Values{"conversation_id": {conv}, "client_id": {"file-1"}, "name": {"receipt.pdf"}}
	req, err := http.NewRequest("POST", srv.URL+"/files?"+q.Encode(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Visitor "+visitorToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Message wire.MessageView `json:"message"`
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &out) != nil || out.Message.Attachment == nil {
		t.Fatalf("upload through %s: HTTP %d %s", srv.URL, resp.StatusCode, body)
	}
	return out.Message.Attachment.URL
}

// TestFileAcrossInstances: with KEFU_BLOBS=db a file uploaded through one
// instance downloads through the other, byte for byte; with the default
// folder (not shared here) the other instance cannot find it, which is why
// several instances need the database or a shared mount.
func TestFileAcrossInstances(t *testing.T) {
	for _, tc := range []struct {
		blobs  string
		status int
	}{{config.BlobsDB, http.StatusOK}, {config.BlobsFiles, http.StatusNotFound}} {
		t.Run(tc.blobs, func(t *testing.T) {
			a, b := twoInstances(t, func(c *config.Config) { c.Blobs = tc.blobs })
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			shopper, err := client.DialVisitor(ctx, a.URL, client.VisitorOptions{Lang: "en"})
			if err != nil {
				t.Fatal(err)
			}
			defer shopper.Close()
			ack, err := shopper.Send(ctx, "", "here is my receipt")
			if err != nil {
				t.Fatal(err)
			}
			data := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("receipt line\n"), 250_000)...) // over 3 MiB: several chunks
			link := uploadThrough(t, a, shopper.VisitorToken(), ack.ConversationID, data)
			u, err := url.Parse(link)
			if err != nil {
				t.Fatal(err)
			}
			viaB := b.URL + u.RequestURI()
			resp, err := http.Get(viaB)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("download through the other instance: HTTP %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == http.StatusOK && !bytes.Equal(got, data) {
				t.Fatalf("downloaded %d bytes through the other instance, differ from the %d uploaded", len(got), len(data))
			}
		})
	}
}

// TestAwayMailAcrossInstances: a shopper connected to instance B is not
// away for an agent replying through instance A: the reply arrives live
// and is not mailed. Once the shopper has left B, the next reply is mailed.
func TestAwayMailAcrossInstances(t *testing.T) {
	sink := smtpsink.Start(t)
	a, b := twoInstances(t, func(c *config.Config) {
		c.SMTPURL = "smtp://" + sink.Addr + "?from=help@shop.test"
		c.PresenceHeartbeat = 300 * time.Millisecond
	})
	a.CreateAgent(t, "away@shop.test", "Away Agent", "agent", "the-agent-password")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	shopper, err := client.DialVisitor(ctx, b.URL, client.VisitorOptions{Lang: "en"})
	if err != nil {
		t.Fatal(err)
	}
	defer shopper.Close()
	shopRec := record(shopper)
	ack, err := shopper.Send(ctx, "", "Is the blue teapot back?")
	if err != nil {
		t.Fatal(err)
	}
	conv, visitorID := ack.ConversationID, shopper.ID()
	if err := shopper.SetEmail("ann@example.test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the shopper's address to be stored", func() bool {
		v, err := a.Store.Visitor(ctx, visitorID)
		return err == nil && v.Email == "ann@example.test"
	})

	tok, err := client.Login(ctx, a.URL, "away@shop.test", "the-agent-password")
	if err != nil {
		t.Fatal(err)
	}
	agent, err := client.DialAgent(ctx, a.URL, client.AgentOptions{AccessToken: tok.AccessToken})
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	record(agent)
	waitFor(t, 20*time.Second, "the conversation to be assigned", func() bool {
		c, err := a.Store.Conversation(ctx, conv)
		return err == nil && c.Status == "assigned"
	})

	// Connected to B: A must see it, and mail nothing.
	waitFor(t, 20*time.Second, "A to see the shopper connected to B", func() bool {
		here, err := a.App.Visitors.VisitorConnected(ctx, visitorID)
		return err == nil && here
	})
	if _, err := agent.SendWithID(ctx, conv, "r-1", "Let me check the stock."); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the shopper on B to get the reply live", func() bool {
		for _, m := range shopRec.of(conv) {
			if m.Body == "Let me check the stock." {
				return true
			}
		}
		return false
	})

	// Gone from B: the next reply is mailed, and it is the first mail.
	shopper.Close()
	waitFor(t, 20*time.Second, "A to see the shopper gone from B", func() bool {
		here, err := a.App.Visitors.VisitorConnected(ctx, visitorID)
		return err == nil && !here
	})
	if _, err := agent.SendWithID(ctx, conv, "r-2", "Yes, back on Monday."); err != nil {
		t.Fatal(err)
	}
	m := sink.Next(t)
	if strings.Contains(m.Data, "Let me check the stock.") {
		t.Fatalf("the reply the shopper saw live on B was mailed:\n%s", m.Data)
	}
	if len(m.To) != 1 || m.To[0] != "ann@example.test" || !strings.Contains(m.Data, "Yes, back on Monday.") {
		t.Fatalf("mail to %v:\n%s\nwant the reply sent after the shopper left", m.To, m.Data)
	}
}
