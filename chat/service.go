package chat

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
	"github.com/kefu-chat/kefu/routing"
)

// Kicker is the part of the dispatcher the service needs: a nudge that the
// queue or an agent's load changed.
type Kicker interface{ Kick() }

// Options configures a Service. Zero fields take the documented defaults.
type Options struct {
	MaxMessageBytes int              // default 4096
	Now             func() time.Time // default time.Now
	Logger          *slog.Logger     // default slog.Default()
	// QueueFrameLimit caps how many queued conversations a queue frame
	// lists in full; default 50. Positions are still sent to every waiting
	// shopper.
	QueueFrameLimit int
}

// Service implements conversations for the handlers and notifications for
// the dispatcher.
type Service struct {
	store  models.Store
	bus    models.Bus
	kicker Kicker
	opts   Options
	log    *slog.Logger

	stripes [64]sync.Mutex

	typing typingThrottle // typing.go
	files  *attachments   // attachments.go; nil until SetAttachments
}

var _ routing.Notifier = (*Service)(nil)

// New returns a Service that stores through store and publishes on bus. Call
// SetKicker before use: the dispatcher and the service refer to each other.
func New(store models.Store, bus models.Bus, o Options) *Service {
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 4096
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.QueueFrameLimit <= 0 {
		o.QueueFrameLimit = 50
	}
	return &Service{store: store, bus: bus, opts: o, log: o.Logger, kicker: noKick{}}
}

// SetKicker sets who is told that the queue or a load changed.
func (s *Service) SetKicker(k Kicker) { s.kicker = k }

type noKick struct{}

func (noKick) Kick() {}

// lock serializes commit-and-publish per conversation (or per visitor, for a
// first message whose conversation does not exist yet).
func (s *Service) lock(key string) func() {
	h := fnv.New32a()
	h.Write([]byte(key))
	m := &s.stripes[h.Sum32()%uint32(len(s.stripes))]
	m.Lock()
	return m.Unlock
}

func (s *Service) now() time.Time { return s.opts.Now().UTC() }

// publish puts an event on the bus. A failure is logged, not returned: the
// change is committed, and clients catch up by sequence number.
func (s *Service) publish(ctx context.Context, typ string, to models.Audience, frame any) {
	raw, err := json.Marshal(frame)
	if err != nil {
		s.log.Error("encoding frame", "type", typ, "err", err)
		return
	}
	if err := s.bus.Publish(ctx, models.Event{Type: typ, To: to, Frame: raw}); err != nil {
		s.log.Warn("publishing event", "type", typ, "err", err)
	}
}

// Revoke tells every instance to close the agent's sockets: their tokens
// were revoked (logout, password change, disable).
func (s *Service) Revoke(ctx context.Context, agentID string) {
	if err := s.bus.Publish(ctx, models.Event{Type: models.EventRevoke, To: models.Audience{Agents: []string{agentID}}}); err != nil {
		s.log.Warn("publishing revoke", "err", err)
	}
}

func (s *Service) checkText(clientID, body string) error {
	switch {
	case clientID == "":
		return models.Errorf(models.EINVALID, "client_id is required")
	case len(clientID) > 64:
		return models.Errorf(models.EINVALID, "client_id is longer than 64 characters")
	case body == "":
		return models.Errorf(models.EINVALID, "body is empty")
	case len(body) > s.opts.MaxMessageBytes:
		return models.Errorf(models.ETOOLARGE, "message is longer than %d bytes", s.opts.MaxMessageBytes)
	case !utf8.ValidString(body):
		return models.Errorf(models.EINVALID, "body is not valid UTF-8")
	}
	return nil
}

func ackFrame(m *models.Message) wire.ServerFrame {
	return wire.ServerFrame{Type: wire.TypeAck, ClientID: m.ClientID, MessageID: m.ID, ConversationID: m.ConversationID, Seq: m.Seq}
}

// agentName returns the name of the agent with the id, or "" if unknown.
func (s *Service) agentName(ctx context.Context, id *string) (*models.Agent, string) {
	if id == nil {
		return nil, ""
	}
	a, err := s.store.Agent(ctx, *id)
	if err != nil {
		return nil, ""
	}
	return a, a.Name
}
