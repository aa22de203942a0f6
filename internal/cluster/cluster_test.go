package cluster_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/client"
	"github.com/kefu-chat/kefu/internal/testenv"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/sqlstore"
)

const (
	password = "correct horse battery staple"
	maxChats = 3
	grace    = 3 * time.Second
	// heartbeat: another instance's agents count as gone 3 heartbeats
	// after its last one.
	heartbeat = 500 * time.Millisecond
	lines     = 8 // per side and conversation
)

// TestCluster runs three kefu processes on one PostgreSQL schema and one
// bus, once with Redis and once with NATS.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three kefu processes")
	}
	for _, bus := range []struct {
		name string
		url  func(testing.TB) string
	}{{"redis", testenv.Redis}, {"nats", testenv.NATS}} {
		t.Run(bus.name, func(t *testing.T) {
			testCluster(t, bus.url(t))
		})
	}
}

// clusterEnv is the environment every instance shares: the settings that
// must be equal on every instance (docs/deploy.md), short timers, and a bus
// prefix of the test's own.
func clusterEnv(t testing.TB, dsn, busURL string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEFU_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"KEFU_DB="+dsn, "KEFU_BUS="+busURL, "KEFU_BUS_PREFIX=kt"+randomHex(6),
		"KEFU_JWT_KEY=cluster-test-key-"+randomHex(16), "KEFU_PUBLIC_URL=http://kefu.cluster.test",
		"KEFU_GRACE_PERIOD="+grace.String(), "KEFU_PRESENCE_HEARTBEAT="+heartbeat.String(),
		fmt.Sprintf("KEFU_DEFAULT_MAX_CHATS=%d", maxChats), "KEFU_RATE_LIMIT_EXEMPT=127.0.0.1",
		"KEFU_LOG_LEVEL=warn")
}

func addAgent(t testing.TB, env []string, email, role string) {
	t.Helper()
	cmd := exec.Command(kefuBinary(t), "agent", "add", "--email", email, "--name", email, "--role", role)
	cmd.Env = append(append([]string(nil), env...), "KEFU_DATA="+t.TempDir())
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kefu agent add %s: %v\n%s", email, err, out)
	}
}

func dialAgent(t testing.TB, k *instance, email string, o client.Options) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := client.Login(ctx, k.URL(), email, password)
	if err != nil {
		t.Fatalf("login %s at %s: %v", email, k.name, err)
	}
	// No TokenSource: the access token outlives the test, and refreshing
	// through a dead instance would fail.
	c, err := client.DialAgent(ctx, k.URL(), client.AgentOptions{Options: o, AccessToken: tok.AccessToken})
	if err != nil {
		t.Fatalf("dial agent %s at %s: %v", email, k.name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dialShopper(t testing.TB, k *instance, o client.Options) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.DialVisitor(ctx, k.URL(), client.VisitorOptions{Options: o, Lang: "en"})
	if err != nil {
		t.Fatalf("dial shopper at %s: %v", k.name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCluster(t *testing.T, busURL string) {
	dsn := freshSchema(t)
	env := clusterEnv(t, dsn, busURL)
	// The admin first, so no instance makes one on its first start.
	addAgent(t, env, "boss@shop.test", "admin")
	emails := []string{"a0@shop.test", "a1@shop.test", "a2@shop.test", "lost@shop.test"}
	for _, e := range emails {
		addAgent(t, env, e, "agent")
	}
	store, err := sqlstore.Open(t.Context(), dsn, nil)
	if err != nil {
		t.Fatalf("open the cluster's database: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	agentID := map[string]string{}
	for _, e := range emails {
		a, err := store.AgentByEmail(t.Context(), e)
		if err != nil {
			t.Fatal(err)
		}
		agentID[e] = a.ID
	}

	// Three instances, started at once: migrations are advisory-locked.
	ks := make([]*instance, 3)
	var wg sync.WaitGroup
	for i := range ks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ks[i] = startInstance(t, fmt.Sprintf("kefu%d", i), env)
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	backoff := func(dialer int) client.Options {
		return client.Options{MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
			Dialer: failoverDialer(ks, dialer)}
	}
	const victim = 2 // the instance killed mid-test

	// "lost" connects to kefu2 alone and cannot fail over: it gets the
	// first three conversations, opened by shoppers on the other instances
	// (so its presence must be shared to get them).
	lostOpts := backoff(victim)
	lostOpts.Dialer = pinnedDialer(ks[victim])
	lost := dialAgent(t, ks[victim], "lost@shop.test", lostOpts)
	lostRec := record(lost)

	const shoppers = 8
	shops := make([]*client.Client, shoppers)
	shopRecs := make([]*recorder, shoppers)
	convs := make([]string, shoppers)
	for i := range shops {
		home := i % len(ks)
		if i < maxChats {
			home = i % 2 // kefu0 and kefu1
		}
		shops[i] = dialShopper(t, ks[home], backoff(home))
		shopRecs[i] = record(shops[i])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for i := range maxChats {
		ack, err := shops[i].Send(ctx, "", fmt.Sprintf("s%d: hello", i))
		if err != nil {
			t.Fatalf("shopper %d: %v", i, err)
		}
		convs[i] = ack.ConversationID
	}
	holder := func(conv string) string {
		c, err := store.Conversation(ctx, conv)
		if err != nil || c.Status != models.StatusAssigned || c.AgentID == nil {
			return ""
		}
		return *c.AgentID
	}
	waitFor(t, 30*time.Second, "lost@ (on kefu2) to get the conversations opened on kefu0 and kefu1", func() bool {
		for _, c := range convs[:maxChats] {
			if holder(c) != agentID["lost@shop.test"] {
				return false
			}
		}
		return true
	})

	// The others arrive, one per instance; a2 is on the victim but fails over.
	agents := map[string]*client.Client{"lost@shop.test": lost}
	recs := map[string]*recorder{"lost@shop.test": lostRec}
	for i, e := range emails[:3] {
		agents[e] = dialAgent(t, ks[i], e, backoff(i))
		recs[e] = record(agents[e])
	}
	for i := maxChats; i < shoppers; i++ {
		ack, err := shops[i].Send(ctx, "", fmt.Sprintf("s%d: hello", i))
		if err != nil {
			t.Fatalf("shopper %d: %v", i, err)
		}
		convs[i] = ack.ConversationID
	}
	owner := map[string]string{} // conversation → agent e-mail, before the kill
	byID := map[string]string{}
	for e, id := range agentID {
		byID[id] = e
	}
	waitFor(t, 30*time.Second, "every conversation to be assigned", func() bool {
		for _, c := range convs {
			h := holder(c)
			if h == "" {
				return false
			}
			owner[c] = byID[h]
		}
		return true
	})
	onVictim := 0
	for _, c := range convs[maxChats:] {
		if owner[c] == "a2@shop.test" {
			onVictim++
		}
	}
	t.Logf("before the kill: %v (a2, on the victim, holds %d)", owner, onVictim)

	// Traffic: every shopper writes, and every agent but lost@ answers,
	// while kefu2 is killed.
	type sent struct{ conv, body string }
	var (
		mu    sync.Mutex
		acked []sent
	)
	say := func(c *client.Client, conv, body string) {
		ack, err := c.Send(ctx, conv, body)
		if err != nil {
			t.Errorf("send %q: %v", body, err)
			return
		}
		if ack.ConversationID != conv {
			t.Errorf("send %q: acked in %s, want %s", body, ack.ConversationID, conv)
		}
		mu.Lock()
		acked = append(acked, sent{conv, body})
		mu.Unlock()
	}
	var traffic sync.WaitGroup
	for i, conv := range convs {
		traffic.Add(1)
		go func() {
			defer traffic.Done()
			for j := range lines {
				say(shops[i], conv, fmt.Sprintf("s%d: q%d", i, j))
				time.Sleep(20 * time.Millisecond)
			}
		}()
		if o := owner[conv]; o != "lost@shop.test" {
			traffic.Add(1)
			go func() {
				defer traffic.Done()
				for j := range lines {
					say(agents[o], conv, fmt.Sprintf("s%d: a%d", i, j))
					time.Sleep(20 * time.Millisecond)
				}
			}()
		}
	}
	waitFor(t, 30*time.Second, "a third of the traffic to be acknowledged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= len(convs)*lines*2/3/2
	})
	killedAt := time.Now()
	ks[victim].kill(t)
	traffic.Wait()
	if t.Failed() {
		return
	}

	// lost@ cannot come back: after its rows go stale and the grace period
	// runs out, whichever dispatcher runs first requeues its conversations,
	// and they go to the others (who have room: 3 × 3 ≥ 8).
	waitFor(t, 45*time.Second, "lost@'s conversations to be reassigned", func() bool {
		for _, c := range convs[:maxChats] {
			if h := holder(c); h == "" || h == agentID["lost@shop.test"] {
				return false
			}
		}
		return true
	})
	took := time.Since(killedAt)
	t.Logf("lost@'s conversations reassigned %s after the kill (stale %s + grace %s + a pass)", took.Round(10*time.Millisecond), 3*heartbeat, grace)
	if took < grace {
		t.Errorf("reassigned %s after the kill: before the grace period (%s) could have run out", took, grace)
	}
	// The clients of the dead instance came back through another one.
	for who, c := range map[string]*client.Client{"a2@": agents["a2@shop.test"], "shopper 5": shops[5]} {
		if st := c.Stats(); st.Connects < 2 {
			t.Errorf("%s (on kefu2) connected %d times, want a reconnect to another instance", who, st.Connects)
		}
	}
	// The new holders answer once, and the shoppers hear it.
	final := map[string]string{}
	for _, c := range convs {
		final[c] = byID[holder(c)]
	}
	for i, c := range convs[:maxChats] {
		say(agents[final[c]], c, fmt.Sprintf("s%d: taken over", i))
	}

	// Every message is delivered to the shopper and to the final holder:
	// all of them, once each, in seq order.
	for i, c := range convs {
		conv, err := store.Conversation(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		for _, who := range []struct {
			name string
			rec  *recorder
		}{{fmt.Sprintf("shopper %d", i), shopRecs[i]}, {final[c], recs[final[c]]}} {
			waitFor(t, 30*time.Second, fmt.Sprintf("%s to have the %d messages of %s", who.name, conv.LastSeq, c), func() bool {
				got := who.rec.of(c)
				return len(got) > 0 && got[len(got)-1].Seq >= conv.LastSeq
			})
			for j, m := range who.rec.of(c) {
				if m.Seq != int64(j+1) {
					t.Errorf("%s, conversation %s: message %d has seq %d (a gap, a repeat or out of order)", who.name, c, j, m.Seq)
					break
				}
			}
		}
	}
	// Every acknowledged message is stored once.
	stored := map[string]int{}
	for _, c := range convs {
		msgs, err := store.Messages(ctx, c, 0, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			stored[c+"|"+m.Body]++
		}
	}
	mu.Lock()
	for _, s := range acked {
		if n := stored[s.conv+"|"+s.body]; n != 1 {
			t.Errorf("%q stored %d times, want 1", s.body, n)
		}
	}
	mu.Unlock()

	// Assignments: one record per conversation, two for lost@'s (lost@,
	// then the new holder), and nobody over their cap.
	for _, c := range convs {
		recs, err := store.Assignments(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range recs {
			got = append(got, byID[r.AgentID])
		}
		want := []string{owner[c]}
		if owner[c] == "lost@shop.test" {
			want = append(want, final[c])
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("conversation %s: assignments %v, want %v", c, got, want)
		}
	}
	load := map[string]int{}
	for _, c := range convs {
		load[final[c]]++
	}
	for e, id := range agentID {
		a, err := store.Agent(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if a.OpenChats != load[e] || a.OpenChats > maxChats {
			t.Errorf("%s: OpenChats %d, holds %d, cap %d", e, a.OpenChats, load[e], maxChats)
		}
	}
}
