// Package chat owns the life of a conversation as its two parties see it:
// a shopper arriving and writing, an agent replying and resolving, history
// and resume, and telling everyone concerned. It is the one place where the
// rule "commit, then publish" is kept: every method stores its change first,
// and only once that has committed encodes the websocket frames (once each)
// and puts them on the bus.
//
// Service is also the dispatcher's routing.Notifier, so assignments and
// requeues reach shoppers and agents the same way messages do.
//
// A Service is safe for concurrent use. Within one instance, events about one
// conversation are published in commit order (a striped lock spans the
// commit and the publish); across instances clients restore order by
// sequence number, as docs/protocol.md asks them to.
package chat
