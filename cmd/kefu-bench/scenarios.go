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
		cpuConnUS, toolConnUS      float64 // CPU per connect: server, load tool (workers)
		p50, p99, max, cpuUS, miss float64
		delivered                  float64
	}
	measure := func(t *target) (figures, error) {
		var f figures
		rss0, _ := t.rss()
		ws, err := startWorkers(cfg.Workers, cfg.Procs)
		if err != nil {
			return f, err
		}
		defer stopWorkers(ws)
		share := func(i int) int { return cfg.Shoppers/len(ws) + boolInt(i < cfg.Shoppers%len(ws)) }
		toolCPU := func() (float64, bool) {
			sum := 0.0
			for _, w := range ws {
				if w.proc == nil || w.proc.Process == nil {
					return 0, false
				}
				s, err := cpuSeconds(w.proc.Process.Pid)
				if err != nil {
					return 0, false
				}
				sum += s
			}
			return sum, true
		}
		srv0, srvErr := t.cpu()
		tool0, toolOK := toolCPU()
		start := time.Now()
		urls, origins := t.shopperURLs()
		evs, err := all(ws, func(i int, w *worker) workerCmd {
			return workerCmd{Cmd: "connect", URLs: urls, Origins: origins, N: share(i), Src: w.src, Concurrency: 64}
		})
		if err != nil {
			return f, err
		}
		took := time.Since(start)
		srv1, srvErr1 := t.cpu()
		tool1, toolOK1 := toolCPU()
		ok := 0
		for _, ev := range evs {
			ok += ev.OK
			f.failed += float64(ev.Failed)
			if ev.Err != "" {
				fmt.Fprintf(log, "kefu-bench: %s: connect errors, first: %s\n", t.name, ev.Err)
			}
		}
		f.rate = float64(ok) / took.Seconds()
		if ok > 0 && t.measured() && srvErr == nil && srvErr1 == nil {
			f.cpuConnUS = (srv1 - srv0) * 1e6 / float64(ok)
		}
		if ok > 0 && toolOK && toolOK1 {
			f.toolConnUS = (tool1 - tool0) * 1e6 / float64(ok)
		}
		time.Sleep(500 * time.Millisecond) // let the server settle before reading its memory
		if rss1, err := t.rss(); err == nil && t.measured() && ok > 0 {
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
		cpu0, _ := t.cpu()
		var lat []int64
		for r := 1; r <= cfg.Rounds; r++ {
			l, missed, err := roundOnce(r)
			if err != nil {
				return f, err
			}
			lat = append(lat, l...)
			f.miss += float64(missed)
		}
		cpu1, _ := t.cpu()
		ms := sortedMS(lat)
		f.p50, f.p99, f.max = percentile(ms, 50), percentile(ms, 99), percentile(ms, 100)
		f.delivered = float64(len(lat))
		if len(lat) > 0 && t.measured() {
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
	if kefu.measured() {
		res = append(res,
			result("connect", "server memory per idle shopper", "KiB", k.memKiB, pick(func(f figures) float64 { return f.memKiB })),
			result("connect", "server CPU per connect", "µs", k.cpuConnUS, pick(func(f figures) float64 { return f.cpuConnUS })))
	}
	if k.toolConnUS > 0 {
		// What the load tool's workers spent per connect: with tool and
		// server on the same cores, 1 s × cores / (server + tool CPU per
		// connect) bounds the connect rate this machine can show.
		res = append(res, result("connect", "load tool CPU per connect", "µs", k.toolConnUS, pick(func(f figures) float64 { return f.toolConnUS })))
	}
	if broadcast {
		res = append(res,
			result("broadcast", "announcement → shopper p50", "ms", k.p50, pick(func(f figures) float64 { return f.p50 })),
			result("broadcast", "announcement → shopper p99", "ms", k.p99, pick(func(f figures) float64 { return f.p99 })),
			result("broadcast", "announcement → shopper max", "ms", k.max, pick(func(f figures) float64 { return f.max })),
			result("broadcast", fmt.Sprintf("frames delivered (%d rounds)", cfg.Rounds), "", k.delivered, pick(func(f figures) float64 { return f.delivered })),
			result("broadcast", "frames missed", "", k.miss, pick(func(f figures) float64 { return f.miss })),
		)
		if kefu.measured() {
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

// shopper connects a shopper, to the instances in turn, and returns it
// after welcome with its id.
func shopper(ctx context.Context, t *target) (*sock, string, error) {
	i := t.nextInstance()
	origin := t.bases[0] // every instance's public URL: see shopperURLs
	s, err := dialSock(ctx, t.visitorURL(i), http.Header{"Origin": {origin}})
	if err != nil {
		return nil, "", err
	}
	if err := s.send(map[string]any{"type": "hello", "lang": "en", "page": map[string]string{"url": origin + "/bench", "title": "Bench"}}); err != nil {
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
	convs    sync.Map // visitor id → conversation id
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
		// Agent i on the instance after shopper i's: with several
		// instances most conversations cross the bus.
		s, err := dialSock(ctx, t.agentURL(i+1), h)
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
				p.convs.Store(f.Conversation.Visitor.ID, f.Conversation.ID)
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

// setupChats opens k conversations on t, each answered once by an agent.
func setupChats(ctx context.Context, t *target, k int) ([]*conv, error) {
	convs := make([]*conv, k)
	errs := make(chan error, k)
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
			c := &conv{s: s}
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
						c.cid = fr.Message.ConversationID
						convs[i] = c
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
		return convs, err
	}
	return convs, nil
}

// chatLoop runs every conversation as a loop of a shopper message and the
// agent's answer for d, and returns the round trips and how long it took.
func chatLoop(convs []*conv, d time.Duration) ([]int64, time.Duration) {
	var rtts []int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	start := time.Now()
	for _, c := range convs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []int64
			defer func() { mu.Lock(); rtts = append(rtts, mine...); mu.Unlock() }()
			for n := 0; time.Now().Before(deadline); n++ {
				body := fmt.Sprintf("m%d-%d", start.UnixNano(), n)
				t0 := time.Now()
				if c.s.send(map[string]any{"type": "message", "client_id": uuid.NewString(), "body": body}) != nil {
					return
				}
				if !c.waitReply("re: " + body) {
					return
				}
				mine = append(mine, time.Since(t0).Nanoseconds())
			}
		}()
	}
	wg.Wait()
	return rtts, time.Since(start)
}

func closeChats(t *target, convs []*conv) {
	for _, c := range convs {
		if c == nil {
			continue
		}
		if t.name == "kefu" {
			_ = c.s.send(map[string]any{"type": "resolve", "conversation_id": c.cid})
		}
	}
	time.Sleep(500 * time.Millisecond)
	for _, c := range convs {
		if c != nil {
			c.s.close()
		}
	}
}

// chatScenario runs K concurrent conversations, each a loop of a shopper
// message and the agent's answer, for ChatDuration.
func chatScenario(ctx context.Context, cfg Config, kefu, base *target, log io.Writer) ([]Result, error) {
	type figures struct{ rate, p50, p99, cpuUS float64 }
	measure := func(t *target) (figures, error) {
		var f figures
		agents, err := startAgents(ctx, t, cfg.Agents, cfg.maxChats())
		if err != nil {
			return f, err
		}
		defer agents.close()
		convs, err := setupChats(ctx, t, cfg.Conversations)
		defer closeChats(t, convs)
		if err != nil {
			return f, err
		}
		fmt.Fprintf(log, "kefu-bench: %s: %d conversations with %d agents\n", t.name, len(convs), cfg.Agents)
		cpu0, _ := t.cpu()
		rtts, took := chatLoop(convs, cfg.ChatDuration)
		cpu1, _ := t.cpu()
		f.rate = float64(2*len(rtts)) / took.Seconds()
		if len(rtts) > 0 && cpu1 > cpu0 {
			// The server's own CPU, which the load tool's and other
			// processes' share of a busy machine does not change.
			f.cpuUS = (cpu1 - cpu0) * 1e6 / float64(2*len(rtts))
		}
		ms := sortedMS(rtts)
		f.p50, f.p99 = percentile(ms, 50), percentile(ms, 99)
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
		result(name, "server CPU per message", "µs", k.cpuUS, pick(func(f figures) float64 { return f.cpuUS })),
	}, nil
}

// mixedScenario connects the idle shoppers, then runs MixedConversations
// chats for ChatDuration without announcements and again while an
// announcement goes to every shopper every AnnounceEvery: the chat
// round trip with and without fan-out in progress.
func mixedScenario(ctx context.Context, cfg Config, kefu, base *target, log io.Writer) ([]Result, error) {
	type figures struct{ quiet50, quiet99, busy50, busy99, announcements float64 }
	measure := func(t *target) (figures, error) {
		var f figures
		ws, err := startWorkers(cfg.Workers, cfg.Procs)
		if err != nil {
			return f, err
		}
		defer stopWorkers(ws)
		share := func(i int) int { return cfg.Shoppers/len(ws) + boolInt(i < cfg.Shoppers%len(ws)) }
		urls, origins := t.shopperURLs()
		if _, err := all(ws, func(i int, w *worker) workerCmd {
			return workerCmd{Cmd: "connect", URLs: urls, Origins: origins, N: share(i), Src: w.src, Concurrency: 64}
		}); err != nil {
			return f, err
		}
		agents, err := startAgents(ctx, t, cfg.Agents, cfg.maxChats())
		if err != nil {
			return f, err
		}
		defer agents.close()
		convs, err := setupChats(ctx, t, cfg.MixedConversations)
		defer closeChats(t, convs)
		if err != nil {
			return f, err
		}
		quiet, _ := chatLoop(convs, cfg.ChatDuration)
		stop := make(chan struct{})
		done := make(chan []string)
		go func() {
			var ids []string
			defer func() { done <- ids }()
			for r := 100000; ; r++ {
				if id, err := announce(ctx, t, r); err == nil {
					ids = append(ids, id)
				}
				select {
				case <-stop:
					return
				case <-time.After(cfg.AnnounceEvery):
				}
			}
		}()
		busy, _ := chatLoop(convs, cfg.ChatDuration)
		close(stop)
		ids := <-done
		f.announcements = float64(len(ids))
		if t.name == "kefu" {
			for _, id := range ids {
				_ = api(ctx, "POST", t.base+"/api/announcements/"+id+"/withdraw", t.token, nil, nil)
			}
		}
		q, b := sortedMS(quiet), sortedMS(busy)
		f.quiet50, f.quiet99, f.busy50, f.busy99 = percentile(q, 50), percentile(q, 99), percentile(b, 50), percentile(b, 99)
		fmt.Fprintf(log, "kefu-bench: %s: chat p99 %.1f ms quiet, %.1f ms during %d announcements to %d shoppers\n",
			t.name, f.quiet99, f.busy99, len(ids), cfg.Shoppers)
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
	name := fmt.Sprintf("mixed (%d chats, %d idle)", cfg.MixedConversations, cfg.Shoppers)
	return []Result{
		result(name, "chat round trip p50, no announcement", "ms", k.quiet50, pick(func(f figures) float64 { return f.quiet50 })),
		result(name, "chat round trip p99, no announcement", "ms", k.quiet99, pick(func(f figures) float64 { return f.quiet99 })),
		result(name, "chat round trip p50, announcing", "ms", k.busy50, pick(func(f figures) float64 { return f.busy50 })),
		result(name, "chat round trip p99, announcing", "ms", k.busy99, pick(func(f figures) float64 { return f.busy99 })),
		result(name, "announcements sent meanwhile", "", k.announcements, pick(func(f figures) float64 { return f.announcements })),
	}, nil
}

// dispatchScenario opens Burst conversations at once and times each from
// the shopper's first message to the agent's assignment notice.
func dispatchScenario(ctx context.Context, cfg Config, kefu *target, log io.Writer) ([]Result, error) {
	agents, err := startAgents(ctx, kefu, cfg.Agents, cfg.maxChats())
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
	for _, sh := range shops { // free the agents' capacity for what follows
		if cid, ok := agents.convs.Load(sh.vid); ok {
			_ = sh.s.send(map[string]any{"type": "resolve", "conversation_id": cid})
		}
	}
	time.Sleep(500 * time.Millisecond)
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
