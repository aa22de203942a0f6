// Package client is a Go client for Kefu's websocket protocol
// (docs/protocol.md): a shopper's widget or an agent's console without the
// browser. Integrators use it to connect a shop's own software to Kefu,
// Kefu's tests use it to prove the delivery guarantees, and the load tool
// runs thousands of them in one process.
//
// A Client owns one logical connection and keeps it alive: it reconnects
// with exponential backoff and full jitter, says hello again with the same
// visitor token (or a fresh agent access token from a TokenSource), and
// resumes every conversation it knows by sending sync from the last sequence
// number it delivered, page by page while the server says more. While
// connected it detects gaps (a message whose seq jumps past last+1) and
// fills them with sync at once, drops duplicates by seq, and delivers each
// conversation's messages to the application exactly once and in seq order,
// holding early arrivals until the gap before them is filled.
//
// Send gives each message a client id (a UUID) and keeps it in a pending
// queue until the server acknowledges it; after a reconnect every pending
// message is sent again with the same client id, which the server stores at
// most once. Send returns the acknowledgement, or a *models.Error when the
// server refused the message (its Code says why).
//
// # Events and buffering
//
// Everything the server tells the application arrives on the channel
// returned by Events, in the order the client processed it. The channel is
// bounded (Options.EventBuffer, default 256) and the client never blocks on
// it: when it is full the client treats the application like a slow network
// peer — it drops the connection (the Disconnected event, sent once there is
// room again, carries ErrOverflow), waits until the application has drained
// half the buffer, and reconnects. No message is lost by this: a message
// counts as delivered only once it is on the channel, and the resume after
// the reconnect fetches everything after the last delivered seq. State
// events (conversation, queue, position, status) that did not fit are
// dropped; the welcome after the reconnect carries the current state (and
// the active announcements). Every other event that does not fit (typing,
// read, announcement, transfer, …, Connected and Disconnected) is dropped
// too: like the server's live frames, they are at most once.
//
// # Concurrency
//
// A Client is safe for use by many goroutines. It runs one supervisor
// goroutine (dial, read, process) and one writer goroutine per live
// connection; Close stops both and waits for them, and closes the Events
// channel. Many Clients may share a process: they share nothing but the
// Dialer the caller gives them.
package client
