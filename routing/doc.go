// Package routing decides who serves whom: it keeps each agent's presence
// (connections and online/away/offline status) in memory, holds a
// disconnected agent's conversations for a grace period, and runs assignment
// passes that hand queued conversations to eligible agents through the
// Strategy of each conversation's department (least-busy, round-robin, or
// none for manual). It also answers whether anyone can answer a new
// conversation now: business hours, read from the store through a short
// cache and judged by the dispatcher's Clock, and presence (hours.go).
//
// The store is the source of truth. A pass only proposes: every assignment is
// a conditional store call (models.ConversationStore.AssignConversation) that
// refuses when the conversation was already taken or the agent is full, so
// two dispatchers, in one process or in two processes sharing one database,
// can race over the same queue without ever assigning a conversation twice or
// filling an agent over their cap. The Notifier hears of an assignment or a
// requeue only after the store committed it.
//
// Concurrency: a Dispatcher is safe for concurrent use. Passes (Step) are
// serialized per Dispatcher. Presence calls (AgentConnected, SetStatus, …)
// only touch memory under a short mutex and never wait for a pass. Timer
// callbacks (the grace period) never do store work themselves: they mark the
// agent as expired and Kick, and the next pass requeues their conversations,
// so a FakeClock that runs callbacks synchronously inside Advance cannot
// deadlock with a pass and tests stay deterministic (Advance, then Step).
//
// Presence is local to one Dispatcher: with several Kefu instances sharing a
// database, an instance assigns only to agents connected to it, and treats
// agents connected elsewhere as disconnected.
package routing
