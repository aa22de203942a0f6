package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/google/uuid"

	"github.com/kefu-chat/kefu/client"
)

// login returns an access token for an agent.
func login(ctx context.Context, base, email, password string) (string, error) {
	t, err := client.Login(ctx, base, email, password)
	if err != nil {
		return "", err
	}
	return t.AccessToken, nil
}

// api sends a JSON request with the bearer token and decodes the answer.
func api(ctx context.Context, method, u, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, u, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// announce sends one round's announcement: through Kefu's API, or the
// baseline's /broadcast with a frame of the same shape and size.
func announce(ctx context.Context, t *target, round int) (string, error) {
	text := fmt.Sprintf("bench round %d: free shipping on every order today, use code FAST at checkout", round)
	if t.name == "baseline" {
		// Field order as Kefu's frame (type first), which the workers match on.
		type view struct {
			ID     string    `json:"id"`
			Text   string    `json:"text"`
			Level  string    `json:"level"`
			SentAt time.Time `json:"sent_at"`
		}
		frame, _ := json.Marshal(struct {
			Type         string `json:"type"`
			Announcement view   `json:"announcement"`
		}{"announcement", view{uuid.NewString(), text, "info", time.Now().UTC()}})
		return "", api(ctx, "POST", t.base+"/broadcast", "", json.RawMessage(frame), nil)
	}
	var out struct {
		ID string `json:"id"`
	}
	err := api(ctx, "POST", t.base+"/api/announcements", t.token, map[string]any{"text": text, "level": "info"}, &out)
	return out.ID, err
}

// fanoutScenario connects the idle shoppers (connect) and, when broadcast,
// sends the announcements and times their arrival at every shopper.
func fanoutScenario(ctx context.Context, cfg Config, kefu, base *target, broadcast bool, log io.Writer) ([]Result, error) {
	type figures struct {
		rate, memKiB, failed       float64
		p50, p99, max, cpuUS, miss float64
		delivered                  float64
	}
	measure := func(t *target) (figures, error) {
		var f figures
		rss0, _ := rssKiB(t.pid)
		ws, err := startWorkers(cfg.Workers, cfg.Procs)
		if err != nil {
			return f, err
		}
		defer stopWorkers(ws)
		share := func(i int) int { return cfg.Shoppers/len(ws) + boolInt(i < cfg.Shoppers%len(ws)) }
		start := time.Now()
		evs, err := all(ws, func(i int, w *worker) workerCmd {
			return workerCmd{Cmd: "connect", URL: t.visitor, Origin: t.base, N: share(i), Src: w.src, Concurrency: 64}
		})
		if err != nil {
			return f, err
		}
		took := time.Since(start)
		ok := 0
		for _, ev := range evs {
			ok += ev.OK
			f.failed += float64(ev.Failed)
			if ev.Err != "" {
				fmt.Fprintf(log, "kefu-bench: %s: connect errors, first: %s\n", t.name, ev.Err)
			}
		}
		f.rate = float64(ok) / took.Seconds()
		time.Sleep(500 * time.Millisecond) // let the server settle before reading its memory
		if rss1, err := rssKiB(t.pid); err == nil && t.pid > 0 && ok > 0 {
			f.memKiB = float64(rss1-rss0) / float64(ok)
		}
		fmt.Fprintf(log, "kefu-bench: %s: %d shoppers connected in %v\n", t.name, ok, took.Round(time.Millisecond))
		if !broadcast {
			return f, nil
		}
		var ids []string
		roundOnce := func(r int) ([]int64, int, error) {
			t0 := time.Now().UnixNano()
			id, err := announce(ctx, t, r)
			if err != nil {
				return nil, 0, err
			}
			ids = append(ids, id)
			evs, err := all(ws, func(int, *worker) workerCmd {
				return workerCmd{Cmd: "round", Round: r, T0: t0, TimeoutMS: 30000}
			})
			var lat []int64
			missed := 0
			for _, ev := range evs {
				lat = append(lat, ev.Lat...)
				missed += ev.Missed
			}
			return lat, missed, err
		}
		if _, _, err := roundOnce(0); err != nil { // warm-up, not counted
			return f, err
		}
		cpu0, _ := cpuSeconds(t.pid)
		var lat []int64
		for r := 1; r <= cfg.Rounds; r++ {
			l, missed, err := roundOnce(r)
			if err != nil {
				return f, err
			}
			lat = append(lat, l...)
			f.miss += float64(missed)
		}
		cpu1, _ := cpuSeconds(t.pid)
		ms := sortedMS(lat)
		f.p50, f.p99, f.max = percentile(ms, 50), percentile(ms, 99), percentile(ms, 100)
		f.delivered = float64(len(lat))
		if len(lat) > 0 && t.pid > 0 {
			f.cpuUS = (cpu1 - cpu0) * 1e6 / float64(len(lat))
		}
		if t.name == "kefu" { // take them down, outside the measured window
			for _, id := range ids {
				_ = api(ctx, "POST", t.base+"/api/announcements/"+id+"/withdraw", t.token, nil, nil)
			}
		}
		return f, nil
	}
	k, err := measure(kefu)
	if err != nil {
		return nil, fmt.Errorf("kefu: %w", err)
	}
	var b *figures
	if base != nil {
		bf, err := measure(base)
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		b = &bf
	}
	pick := func(get func(figures) float64) *float64 {
		if b == nil {
			return nil
		}
		v := get(*b)
		return &v
	}
	res := []Result{
		result("connect", "connect rate", "conn/s", k.rate, pick(func(f figures) float64 { return f.rate })),
		result("connect", "failed connects", "", k.failed, pick(func(f figures) float64 { return f.failed })),
	}
	if kefu.pid > 0 {
		res = append(res, result("connect", "server memory per idle shopper", "KiB", k.memKiB, pick(func(f figures) float64 { return f.memKiB })))
	}
	if broadcast {
		res = append(res,
			result("broadcast", "announcement → shopper p50", "ms", k.p50, pick(func(f figures) float64 { return f.p50 })),
			result("broadcast", "announcement → shopper p99", "ms", k.p99, pick(func(f figures) float64 { return f.p99 })),
			result("broadcast", "announcement → shopper max", "ms", k.max, pick(func(f figures) float64 { return f.max })),
			result("broadcast", fmt.Sprintf("frames delivered (%d rounds)", cfg.Rounds), "", k.delivered, pick(func(f figures) float64 { return f.delivered })),
			result("broadcast", "frames missed", "", k.miss, pick(func(f figures) float64 { return f.miss })),
		)
		if kefu.pid > 0 {
			res = append(res, result("broadcast", "server CPU per delivered frame", "µs", k.cpuUS, pick(func(f figures) float64 { return f.cpuUS })))
		}
	}
	return res, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// frame is the part of a server frame the bench reads.
type frame struct {
	Type    string `json:"type"`
	Visitor *struct {
		ID string `json:"id"`
	} `json:"visitor"`
	Message *struct {
		ConversationID string `json:"conversation_id"`
		Seq            int64  `json:"seq"`
		SenderKind     string `json:"sender_kind"`
		Body           string `json:"body"`
	} `json:"message"`
	Conversation *struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Visitor *struct {
			ID string `json:"id"`
		} `json:"visitor"`
	} `json:"conversation"`
}

// sock is a websocket with one reader goroutine delivering decoded frames.
type sock struct {
	c      *websocket.Conn
	frames chan frame
	wmu    sync.Mutex
}

func dialSock(ctx context.Context, u string, h http.Header) (*sock, error) {
	d := websocket.Dialer{HandshakeTimeout: 20 * time.Second}
	c, _, err := d.DialContext(ctx, u, h)
	if err != nil {
		return nil, err
	}
	s := &sock{c: c, frames: make(chan frame, 4096)}
	go func() {
		defer close(s.frames)
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				return
			}
			var f frame
			if json.Unmarshal(data, &f) == nil {
				s.frames <- f
			}
		}
	}()
	return s, nil
}

func (s *sock) send(v any) error {
	b, _ := json.Marshal(v)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return s.c.WriteMessage(websocket.TextMessage, b)
}

func (s *sock) close() { s.c.Close() }

// shopper connects a shopper and returns it after welcome with its id.
func shopper(ctx context.Context, t *target) (*sock, string, error) {
	s, err := dialSock(ctx, t.visitor, http.Header{"Origin": {t.base}})
	if err != nil {
		return nil, "", err
	}
	if err := s.send(map[string]any{"type": "hello", "lang": "en", "page": map[string]string{"url": t.base + "/bench", "title": "Bench"}}); err != nil {
		s.close()
		return nil, "", err
	}
	for f := range s.frames {
		if f.Type == "welcome" && f.Visitor != nil {
			return s, f.Visitor.ID, nil
		}
	}
	return nil, "", fmt.Errorf("no welcome")
}

// agentPool is the bench's agents on a target, each with one socket that
// greets every conversation it is given and answers every shopper message
// with "re: " + the message.
type agentPool struct {
	socks    []*sock
	assigned sync.Map // visitor id → time the agent learned of the assignment (unix ns)
	wg       sync.WaitGroup
}

func startAgents(ctx context.Context, t *target, n, maxChats int) (*agentPool, error) {
	p := &agentPool{}
	if t.name == "kefu" && len(t.agentTokens) < n {
		run := uuid.NewString()[:8]
		for i := len(t.agentTokens); i < n; i++ {
			var created struct {
				Password string `json:"password"`
			}
			email := fmt.Sprintf("bench-%s-%d@bench.local", run, i)
			if err := api(ctx, "POST", t.base+"/api/agents", t.token, map[string]any{"email": email, "name": fmt.Sprint("Bench ", i), "max_chats": maxChats}, &created); err != nil {
				return nil, err
			}
			tok, err := login(ctx, t.base, email, created.Password)
			if err != nil {
				return nil, err
			}
			t.agentTokens = append(t.agentTokens, tok)
		}
	}
	for i := range n {
		var h http.Header
		if t.name == "kefu" {
			h = http.Header{"Sec-WebSocket-Protocol": {"kefu.v1, bearer." + t.agentTokens[i]}}
		}
		s, err := dialSock(ctx, t.agentWS, h)
		if err != nil {
			return nil, err
		}
		p.socks = append(p.socks, s)
		p.wg.Add(1)
		go p.serve(s)
	}
	return p, nil
}

func (p *agentPool) serve(s *sock) {
	defer p.wg.Done()
	for f := range s.frames {
		switch {
		case f.Type == "conversation" && f.Conversation != nil && f.Conversation.Status == "assigned":
			if f.Conversation.Visitor != nil {
				p.assigned.LoadOrStore(f.Conversation.Visitor.ID, time.Now().UnixNano())
			}
			_ = s.send(map[string]any{"type": "message", "conversation_id": f.Conversation.ID, "client_id": uuid.NewString(), "body": "hello, how can I help?"})
		case f.Type == "message" && f.Message != nil && f.Message.SenderKind == "visitor":
			_ = s.send(map[string]any{"type": "message", "conversation_id": f.Message.ConversationID, "client_id": uuid.NewString(), "body": "re: " + f.Message.Body})
		}
	}
}

func (p *agentPool) close() {
	for _, s := range p.socks {
		s.close()
	}
	p.wg.Wait()
}

// conv is one conversation of the chat scenario, seen from the shopper.
type conv struct {
	s   *sock
	cid string
}

// waitReply waits for the agent's message with body; false if the socket
// closed or none came within 30 s.
func (c *conv) waitReply(body string) bool {
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case fr, ok := <-c.s.frames:
			if !ok {
				return false
			}
			if fr.Type == "message" && fr.Message != nil && fr.Message.SenderKind == "agent" && fr.Message.Body == body {
				return true
			}
		case <-timeout.C:
			return false
		}
	}
}

// chatScenario runs K concurrent conversations, each a loop of a shopper
// message and the agent's answer, for ChatDuration.
func chatScenario(ctx context.Context, cfg Config, kefu, base *target, log io.Writer) ([]Result, error) {
	type figures struct{ rate, p50, p99 float64 }
	measure := func(t *target) (figures, error) {
		var f figures
		agents, err := startAgents(ctx, t, cfg.Agents, max(cfg.Conversations, cfg.Burst)/cfg.Agents+2)
		if err != nil {
			return f, err
		}
		defer agents.close()
		convs := make([]*conv, cfg.Conversations)
		errs := make(chan error, cfg.Conversations)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		for i := range convs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				s, _, err := shopper(ctx, t)
				<-sem
				if err != nil {
					errs <- err
					return
				}
				if err := s.send(map[string]any{"type": "message", "client_id": uuid.NewString(), "body": "hi"}); err != nil {
					errs <- err
					return
				}
				timeout := time.After(60 * time.Second)
				for {
					select {
					case fr, ok := <-s.frames:
						if !ok {
							errs <- fmt.Errorf("shopper socket closed")
							return
						}
						if fr.Type == "message" && fr.Message != nil && fr.Message.SenderKind == "agent" {
							convs[i] = &conv{s: s, cid: fr.Message.ConversationID}
							return
						}
					case <-timeout:
						errs <- fmt.Errorf("no agent answered within 60s")
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			return f, err
		}
		fmt.Fprintf(log, "kefu-bench: %s: %d conversations with %d agents\n", t.name, len(convs), cfg.Agents)
		var rtts []int64
		var mu sync.Mutex
		var trips atomic.Int64
		deadline := time.Now().Add(cfg.ChatDuration)
		start := time.Now()
		for _, c := range convs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []int64
				defer func() { mu.Lock(); rtts = append(rtts, mine...); mu.Unlock() }()
				for n := 0; time.Now().Before(deadline); n++ {
					body := fmt.Sprintf("m%d", n)
					t0 := time.Now()
					if c.s.send(map[string]any{"type": "message", "client_id": uuid.NewString(), "body": body}) != nil {
						return
					}
					if !c.waitReply("re: " + body) {
						return
					}
					mine = append(mine, time.Since(t0).Nanoseconds())
					trips.Add(1)
				}
			}()
		}
		wg.Wait()
		took := time.Since(start)
		f.rate = float64(2*trips.Load()) / took.Seconds()
		ms := sortedMS(rtts)
		f.p50, f.p99 = percentile(ms, 50), percentile(ms, 99)
		if t.name == "kefu" {
			for _, c := range convs {
				_ = c.s.send(map[string]any{"type": "resolve", "conversation_id": c.cid})
			}
			time.Sleep(500 * time.Millisecond)
		}
		for _, c := range convs {
			c.s.close()
		}
		return f, nil
	}
	k, err := measure(kefu)
	if err != nil {
		return nil, fmt.Errorf("kefu: %w", err)
	}
	var b *figures
	if base != nil {
		bf, err := measure(base)
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		b = &bf
	}
	pick := func(get func(figures) float64) *float64 {
		if b == nil {
			return nil
		}
		v := get(*b)
		return &v
	}
	name := fmt.Sprintf("chat (%d conversations)", cfg.Conversations)
	return []Result{
		result(name, "messages per second", "msg/s", k.rate, pick(func(f figures) float64 { return f.rate })),
		result(name, "round trip p50", "ms", k.p50, pick(func(f figures) float64 { return f.p50 })),
		result(name, "round trip p99", "ms", k.p99, pick(func(f figures) float64 { return f.p99 })),
	}, nil
}

// dispatchScenario opens Burst conversations at once and times each from
// the shopper's first message to the agent's assignment notice.
func dispatchScenario(ctx context.Context, cfg Config, kefu *target, log io.Writer) ([]Result, error) {
	agents, err := startAgents(ctx, kefu, cfg.Agents, max(cfg.Conversations, cfg.Burst)/cfg.Agents+2)
	if err != nil {
		return nil, err
	}
	defer agents.close()
	type shop struct {
		s   *sock
		vid string
	}
	shops := make([]shop, cfg.Burst)
	for i := range shops {
		s, vid, err := shopper(ctx, kefu)
		if err != nil {
			return nil, err
		}
		shops[i] = shop{s, vid}
		go func() {
			for range s.frames { // drain
			}
		}()
	}
	defer func() {
		for _, sh := range shops {
			sh.s.close()
		}
	}()
	sent := make([]int64, len(shops))
	var wg sync.WaitGroup
	for i, sh := range shops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent[i] = time.Now().UnixNano()
			_ = sh.s.send(map[string]any{"type": "message", "client_id": uuid.NewString(), "body": "I need help"})
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(60 * time.Second)
	var lat []int64
	for time.Now().Before(deadline) {
		lat = lat[:0]
		for i, sh := range shops {
			if at, ok := agents.assigned.Load(sh.vid); ok {
				lat = append(lat, at.(int64)-sent[i])
			}
		}
		if len(lat) == len(shops) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintf(log, "kefu-bench: kefu: %d of %d new conversations reached an agent\n", len(lat), len(shops))
	ms := sortedMS(lat)
	sort.Float64s(ms)
	name := fmt.Sprintf("dispatch (%d at once)", cfg.Burst)
	res := []Result{
		result(name, "first message → agent p50", "ms", percentile(ms, 50), nil),
		result(name, "first message → agent p99", "ms", percentile(ms, 99), nil),
		result(name, "first message → agent max", "ms", percentile(ms, 100), nil),
		result(name, "conversations assigned", "", float64(len(lat)), nil),
	}
	return res, nil
}
