// Package realtime delivers live events to the websocket connections open on
// this Kefu instance, and carries events between the parts of Kefu (and
// between instances) on a models.Bus.
//
// # Hub and connections
//
// A Hub indexes the open connections by who they belong to (agents by id,
// admins, visitors by id) and fans events out to them. Each connection
// (Conn) has at most one writer goroutine at a time, which is the only code
// that writes to its Socket: the websocket library panics on concurrent
// writes. The writer runs only while something is due (queued frames, a
// ping, a close) and exits when it is done, so an idle connection costs no
// goroutine and no queue memory; most connections are idle shoppers.
// Everything else talks to a Conn through its bounded send queue (Send never
// blocks) or by asking it to close.
//
// The websocket handler, which lives elsewhere, keeps the read loop. The
// lifecycle it must follow is:
//
//	c := hub.Register(identity, socket) // the writer starts; Deliver reaches c
//	defer hub.Unregister(c)             // forgets c and waits for its writer
//	for { read frames until a read fails }
//
// Unregister returns only after the writer has exited, so the Socket is never
// touched once the handler returns. That matters because gofiber's websocket
// package reuses connection objects after the handler returns: a writer that
// outlived its handler once delivered one user's private message to another
// user's socket.
//
// A connection that cannot keep up (its queue is full) is cut off with close
// code wire.CloseSlowClient rather than slowing the fan-out to everyone else.
// Every write has a deadline and a timer has the writer ping the client
// every PingInterval, so a dead peer is noticed. Closing a connection (Conn.Close, Hub.CloseAgent,
// an EventRevoke, Hub.Shutdown) sends a close frame from the writer and then
// closes the socket, which makes the handler's read fail and the handler call
// Unregister. Fiber's shutdown does not close hijacked sockets, which is why
// Hub.Shutdown closes them itself with 1001.
//
// # Concurrency
//
// All Hub and Conn methods are safe for concurrent use. Fan-out (Deliver)
// collects the target connections under a read lock and sends to them after
// releasing it; a Send is a non-blocking channel operation. The frame bytes
// of an event are shared by every connection they go to and are never
// modified.
//
// # Buses
//
// MemoryBus is the models.Bus for a single instance. The subpackages
// redisbus and natsbus implement the same contract over Redis Pub/Sub and
// core NATS for several instances, and bustest is the suite every
// implementation runs.
package realtime
