package handlers

import "sync"

// maxFramesInFlight bounds how many of one socket's frames may be queued or
// running at once; beyond it the read loop waits, which is back-pressure on
// the client rather than memory spent on it.
const maxFramesInFlight = 64

// lanes runs one agent socket's frames for different conversations side by
// side, and each conversation's frames in the order they arrived.
//
// An agent serves many conversations over one socket. Handled strictly one
// after another, every reply waited for the one before it to be committed,
// so an agent's throughput was one commit at a time whatever the database
// could do (the chat benchmark: ten agents, two hundred chats, stuck near
// 1,800 messages per second with the CPU half idle). A client can only
// expect order within a conversation — its acks carry each conversation's
// own sequence numbers — so that is the order kept. Frames that are not
// about one conversation (auth, status) are barriers: they run after
// everything before them and before anything after them.
//
// Only the socket's read loop calls do and barrier.
type lanes struct {
	mu      sync.Mutex
	waiting map[string][]func() // frames queued behind a running one, per conversation
	running sync.WaitGroup
	slots   chan struct{}
}

func newLanes() *lanes {
	return &lanes{waiting: map[string][]func(){}, slots: make(chan struct{}, maxFramesInFlight)}
}

// do runs fn after the frames of conversation key that came before it.
func (l *lanes) do(key string, fn func()) {
	l.slots <- struct{}{}
	l.mu.Lock()
	if q, busy := l.waiting[key]; busy {
		l.waiting[key] = append(q, fn)
		l.mu.Unlock()
		return
	}
	l.waiting[key] = nil // busy, nothing queued yet
	l.mu.Unlock()
	l.running.Add(1)
	go l.run(key, fn)
}

func (l *lanes) run(key string, fn func()) {
	defer l.running.Done()
	for {
		fn()
		<-l.slots
		l.mu.Lock()
		q := l.waiting[key]
		if len(q) == 0 {
			delete(l.waiting, key)
			l.mu.Unlock()
			return
		}
		fn, l.waiting[key] = q[0], q[1:]
		l.mu.Unlock()
	}
}

// barrier waits until every frame handed to do has finished.
func (l *lanes) barrier() { l.running.Wait() }
