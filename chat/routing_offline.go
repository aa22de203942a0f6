package chat

import (
	"context"
	"fmt"
	"net"
	"net/smtp"
	"net/url"
	"strings"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// Mailer sends e-mail through one SMTP server (net/smtp: STARTTLS when the
// server offers it; credentials only over TLS or to localhost).
type Mailer struct {
	addr string
	from string
	auth smtp.Auth
}

// NewMailer parses smtpURL: smtp://[user:password@]host:port?from=address.
// from defaults to kefu@host.
func NewMailer(smtpURL string) (*Mailer, error) {
	u, err := url.Parse(smtpURL)
	if err != nil || u.Scheme != "smtp" || u.Host == "" {
		return nil, fmt.Errorf("smtp url %q: want smtp://[user:password@]host:port?from=address", smtpURL)
	}
	host, _, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, fmt.Errorf("smtp url %q: %w", smtpURL, err)
	}
	m := &Mailer{addr: u.Host, from: u.Query().Get("from")}
	if m.from == "" {
		m.from = "kefu@" + host
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		m.auth = smtp.PlainAuth("", u.User.Username(), pw, host)
	}
	return m, nil
}

// Send sends a plain-text message. Addresses and subject must not contain
// line breaks (EINVALID), which would let a value add headers.
func (m *Mailer) Send(to, subject, body string) error {
	if strings.ContainsAny(to+subject, "\r\n") || !strings.Contains(to, "@") {
		return models.Errorf(models.EINVALID, "bad e-mail address or subject")
	}
	msg := "From: " + m.from + "\r\nTo: " + to + "\r\nSubject: " + subject +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		strings.ReplaceAll(body, "\n", "\r\n") + "\r\n"
	return smtp.SendMail(m.addr, m.auth, m.from, []string{to}, []byte(msg))
}

// VisitorPresence says whether a shopper has a widget open now, on any
// instance (VisitorTracker).
type VisitorPresence interface {
	VisitorConnected(ctx context.Context, visitorID string) (bool, error)
}

// Offline configures what happens when nobody or the shopper is away.
type Offline struct {
	Mailer    *Mailer // nil: no e-mail; the shopper is told replies wait for them
	Presence  VisitorPresence
	PublicURL string // fallback link back when the shopper's page is unknown
}

// Away is the Service's behaviour towards shoppers who are away: their
// e-mail address, and agents' replies mailed to it.
type Away struct {
	*Service
	o Offline
}

// NewAway returns the away behaviour of s configured by o.
func NewAway(s *Service, o Offline) *Away { return &Away{Service: s, o: o} }

// EmailReplies reports whether replies reach away shoppers by e-mail.
func (s *Away) EmailReplies() bool { return s.o.Mailer != nil }

// SetVisitorEmail stores where replies go while the shopper is away.
func (s *Away) SetVisitorEmail(ctx context.Context, v *models.Visitor, email string) (wire.ServerFrame, error) {
	email = strings.TrimSpace(email)
	at := strings.LastIndexByte(email, '@')
	if len(email) > 254 || at < 1 || at == len(email)-1 || strings.ContainsAny(email, " \t\r\n<>,;\"") {
		return wire.ServerFrame{}, models.Errorf(models.EINVALID, "that is not an e-mail address")
	}
	if _, err := s.store.UpdateVisitor(ctx, v.ID, models.VisitorUpdate{Email: &email, Now: s.now()}); err != nil {
		return wire.ServerFrame{}, err
	}
	return wire.ServerFrame{Type: wire.TypeEmailSaved, Status: email}, nil
}

// MailIfAway e-mails an agent's reply to the shopper when they are not
// connected to any instance and left an address, with a link back to the
// page they chatted on. Call it once per stored reply: never for a resend
// of one (SendAgentReply says which). It returns at once; the mail is sent
// in the background (failures are logged). It reports whether a mail was
// started. When presence cannot be read it sends nothing: the reply is in
// the conversation for the shopper's return either way.
func (s *Away) MailIfAway(ctx context.Context, conversationID string, agentName, body string) bool {
	o := s.o
	if o.Mailer == nil || o.Presence == nil {
		return false
	}
	c, err := s.store.Conversation(ctx, conversationID)
	if err != nil {
		return false
	}
	v, err := s.store.Visitor(ctx, c.VisitorID)
	if err != nil || v.Email == "" {
		return false
	}
	if here, err := o.Presence.VisitorConnected(ctx, v.ID); err != nil || here {
		if err != nil {
			s.log.Warn("not mailing a reply: cannot tell whether the shopper is connected", "conversation", c.ID, "err", err)
		}
		return false
	}
	link := o.PublicURL
	if u, err := url.Parse(v.PageURL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		link = v.PageURL
	}
	text := fmt.Sprintf("%s replied to your chat:\n\n%s\n\nContinue the conversation: %s\n", agentName, body, link)
	go func() {
		if err := o.Mailer.Send(v.Email, "New reply from "+clip(strings.ReplaceAll(agentName, "\n", " "), 100), text); err != nil {
			s.log.Warn("mailing a reply to an away shopper", "conversation", c.ID, "err", err)
		}
	}()
	return true
}

// CloseInactive resolves every open conversation with no message for idle,
// after a system message both sides see. It returns how many it closed.
func (s *Service) CloseInactive(ctx context.Context, idle time.Duration) (int, error) {
	if idle <= 0 {
		return 0, nil
	}
	cands, err := s.store.Queue(ctx)
	if err != nil {
		return 0, err
	}
	agents, err := s.store.Agents(ctx)
	if err != nil {
		return 0, err
	}
	for _, a := range agents {
		if a.OpenChats == 0 {
			continue
		}
		held, err := s.store.Conversations(ctx, models.ConversationFilter{AgentID: a.ID,
			Statuses: []models.Status{models.StatusAssigned}, Limit: 500})
		if err != nil {
			return 0, err
		}
		cands = append(cands, held...)
	}
	closed := 0
	for _, c := range cands {
		if s.now().Sub(c.LastMessageAt) < idle {
			continue
		}
		ok, err := s.closeIfIdle(ctx, c.ID, idle)
		if err != nil {
			return closed, err
		}
		if ok {
			closed++
		}
	}
	return closed, nil
}

func (s *Service) closeIfIdle(ctx context.Context, id string, idle time.Duration) (bool, error) {
	unlock := s.lock(id)
	c, err := s.store.Conversation(ctx, id)
	if err != nil || !c.Status.Open() || s.now().Sub(c.LastMessageAt) < idle {
		unlock()
		return false, nil // resolved, or a message came meanwhile
	}
	text := fmt.Sprintf("This conversation was closed after %s without messages. Write again any time to start a new one.", idle.Round(time.Second))
	res, err := s.store.AppendMessage(ctx, models.NewMessage{ConversationID: id, SenderKind: models.SenderSystem, Body: text, Now: s.now()})
	if err != nil {
		unlock()
		if models.ErrorCode(err) == models.ECONFLICT {
			return false, nil
		}
		return false, err
	}
	s.publishMessage(ctx, res.Conversation, res.Message, "")
	unlock()
	if _, err := s.resolve(ctx, id); err != nil && models.ErrorCode(err) != models.ECONFLICT {
		return false, err
	}
	return true, nil
}

// RunInactivity closes inactive conversations every idle/10 (at least
// every second, at most every minute) until ctx ends.
func (s *Service) RunInactivity(ctx context.Context, idle time.Duration) {
	if idle <= 0 {
		return
	}
	every := min(max(idle/10, time.Second), time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.CloseInactive(ctx, idle); err != nil && ctx.Err() == nil {
				s.log.Warn("closing inactive conversations", "err", err)
			} else if n > 0 {
				s.log.Info("closed inactive conversations", "count", n)
			}
		}
	}
}
