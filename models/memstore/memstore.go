// Package memstore is an in-memory models.Store for tests and simulations:
// the dispatcher's deterministic simulation runs thousands of events against
// it in milliseconds. It honours the same contract as sqlstore (it passes
// storetest.Run unchanged) but keeps nothing across restarts and is shared
// only within one process.
//
// One mutex guards all state, so every method is atomic, which is the
// strongest form of the contract's transactions. Values are copied in and
// out: nothing a caller holds aliases the store's state.
package memstore

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/kefu-chat/kefu/models"
)

var _ models.Store = (*Store)(nil)

// Store is an in-memory models.Store. The zero value is not usable; call New.
type Store struct {
	mu            sync.Mutex
	closed        bool
	agents        map[string]*models.Agent
	tokens        map[string]*models.RefreshToken // by hash
	visitors      map[string]*models.Visitor
	conversations map[string]*models.Conversation
	messages      map[string][]*models.Message // by conversation, in Seq order
	bySender      map[senderKey]*models.Message
	assignments   map[string][]*models.AssignmentRecord
	anns          *announcements // announcements.go
	// Indexes, so that a store with many thousands of shoppers does not scan
	// them all on every hello and first message.
	visitorByToken map[string]string                    // token hash → visitor id
	openByVisitor  map[string]string                    // visitor id → their open conversation's id
	rs             *routingState                        // departments, transfers (routing.go)
	att            *attachmentState                     // attachments.go
	presence       map[presenceKey]models.AgentPresence // presence.go; nil until the first sync
	visitorPres    *visitorPresence                     // visitorpresence.go; nil until first used
}

type senderKey struct{ sender, client string }

// New returns an empty store.
func New() *Store {
	return &Store{
		agents:        map[string]*models.Agent{},
		tokens:        map[string]*models.RefreshToken{},
		visitors:      map[string]*models.Visitor{},
		conversations: map[string]*models.Conversation{},
		messages:      map[string][]*models.Message{},
		bySender:      map[senderKey]*models.Message{},
		assignments:   map[string][]*models.AssignmentRecord{},

		visitorByToken: map[string]string{},
		openByVisitor:  map[string]string{},
	}
}

// lock takes the mutex, failing with EUNAVAILABLE once the store is closed
// (as a closed database would).
func (s *Store) lock() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return models.Errorf(models.EUNAVAILABLE, "store closed")
	}
	return nil
}

// Ping reports whether the store is open.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.lock(); err != nil {
		return err
	}
	s.mu.Unlock()
	return nil
}

// Close marks the store closed; later calls fail with EUNAVAILABLE. It is
// safe to call twice.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

func ptr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func copyAgent(a *models.Agent) *models.Agent {
	c := *a
	c.LastAssignedAt = ptr(a.LastAssignedAt)
	return &c
}

func copyToken(t *models.RefreshToken) *models.RefreshToken {
	c := *t
	c.UsedAt, c.RevokedAt = ptr(t.UsedAt), ptr(t.RevokedAt)
	return &c
}

func copyVisitor(v *models.Visitor) *models.Visitor { c := *v; return &c }

func copyConv(c *models.Conversation) *models.Conversation {
	o := *c
	o.AgentID, o.DepartmentID = ptr(c.AgentID), ptr(c.DepartmentID)
	o.AssignedAt, o.ResolvedAt = ptr(c.AssignedAt), ptr(c.ResolvedAt)
	return &o
}

func copyMsg(m *models.Message) *models.Message { c := *m; return &c }

func utcPtr(t time.Time) *time.Time { t = t.UTC(); return &t }

func nowOr(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now()
	}
	return t.UTC()
}

// ---- agents

// CreateAgent stores a new agent, its e-mail normalized.
func (s *Store) CreateAgent(ctx context.Context, a *models.Agent) error {
	a.Email = models.NormalizeEmail(a.Email)
	switch {
	case a.Email == "" || !strings.Contains(a.Email, "@"):
		return models.Errorf(models.EINVALID, "a valid e-mail address is required")
	case strings.TrimSpace(a.Name) == "":
		return models.Errorf(models.EINVALID, "a name is required")
	case !a.Role.Valid():
		return models.Errorf(models.EINVALID, "role must be %q or %q", models.RoleAgent, models.RoleAdmin)
	case a.MaxChats < 0:
		return models.Errorf(models.EINVALID, "max chats must not be negative")
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for _, x := range s.agents {
		if x.Email == a.Email {
			return models.Errorf(models.ECONFLICT, "an agent with e-mail %s exists", a.Email)
		}
	}
	if a.ID == "" {
		a.ID = uuid.NewString()
	}
	if _, ok := s.agents[a.ID]; ok {
		return models.Errorf(models.ECONFLICT, "agent %s exists", a.ID)
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = time.Now()
	}
	if a.UpdatedAt.IsZero() {
		a.UpdatedAt = a.CreatedAt
	}
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	if a.TokenVersion == 0 {
		a.TokenVersion = 1
	}
	s.agents[a.ID] = copyAgent(a)
	return nil
}

// Agent returns the agent with the id.
func (s *Store) Agent(ctx context.Context, id string) (*models.Agent, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	a, ok := s.agents[id]
	if !ok {
		return nil, models.Errorf(models.ENOTFOUND, "agent not found")
	}
	return copyAgent(a), nil
}

// AgentByEmail looks an agent up by e-mail, case-insensitively.
func (s *Store) AgentByEmail(ctx context.Context, email string) (*models.Agent, error) {
	email = models.NormalizeEmail(email)
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	for _, a := range s.agents {
		if a.Email == email {
			return copyAgent(a), nil
		}
	}
	return nil, models.Errorf(models.ENOTFOUND, "agent not found")
}

// Agents lists all agents ordered by e-mail.
func (s *Store) Agents(ctx context.Context) ([]*models.Agent, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]*models.Agent, 0, len(s.agents))
	for _, a := range s.agents {
		out = append(out, copyAgent(a))
	}
	slices.SortFunc(out, func(a, b *models.Agent) int { return cmp.Compare(a.Email, b.Email) })
	return out, nil
}

// AgentsByID returns the agents with the given ids that exist.
func (s *Store) AgentsByID(ctx context.Context, ids []string) (map[string]*models.Agent, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make(map[string]*models.Agent, len(ids))
	for _, id := range ids {
		if a, ok := s.agents[id]; ok {
			out[id] = copyAgent(a)
		}
	}
	return out, nil
}

// UpdateAgent applies the non-nil fields of u.
func (s *Store) UpdateAgent(ctx context.Context, id string, u models.AgentUpdate) (*models.Agent, error) {
	switch {
	case u.Role != nil && !u.Role.Valid():
		return nil, models.Errorf(models.EINVALID, "role must be %q or %q", models.RoleAgent, models.RoleAdmin)
	case u.MaxChats != nil && *u.MaxChats < 0:
		return nil, models.Errorf(models.EINVALID, "max chats must not be negative")
	case u.Name != nil && strings.TrimSpace(*u.Name) == "":
		return nil, models.Errorf(models.EINVALID, "a name is required")
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	a, ok := s.agents[id]
	if !ok {
		return nil, models.Errorf(models.ENOTFOUND, "agent not found")
	}
	if u.Name != nil {
		a.Name = *u.Name
	}
	if u.Role != nil {
		a.Role = *u.Role
	}
	if u.MaxChats != nil {
		a.MaxChats = *u.MaxChats
	}
	if u.Disabled != nil {
		a.Disabled = *u.Disabled
	}
	if u.PasswordHash != nil {
		a.PasswordHash = *u.PasswordHash
	}
	if u.MustChangePassword != nil {
		a.MustChangePassword = *u.MustChangePassword
	}
	if u.RevokeTokens || u.PasswordHash != nil || (u.Disabled != nil && *u.Disabled) {
		a.TokenVersion++
	}
	a.UpdatedAt = time.Now().UTC()
	return copyAgent(a), nil
}

// CountAdmins counts admins that are not disabled.
func (s *Store) CountAdmins(ctx context.Context) (int, error) {
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.agents {
		if a.Role == models.RoleAdmin && !a.Disabled {
			n++
		}
	}
	return n, nil
}

// ---- refresh tokens

func prepareToken(t *models.RefreshToken, now time.Time) error {
	if t.AgentID == "" || t.TokenHash == "" {
		return models.Errorf(models.EINVALID, "a refresh token needs an agent and a hash")
	}
	if t.ID == "" {
		t.ID = uuid.NewString()
	}
	if t.FamilyID == "" {
		t.FamilyID = t.ID
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now
	}
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	return nil
}

// CreateRefreshToken stores a new token, starting a family when FamilyID is
// empty.
func (s *Store) CreateRefreshToken(ctx context.Context, t *models.RefreshToken) error {
	if err := prepareToken(t, time.Now()); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.tokens[t.TokenHash]; ok {
		return models.Errorf(models.ECONFLICT, "refresh token exists")
	}
	s.tokens[t.TokenHash] = copyToken(t)
	return nil
}

// RotateRefreshToken consumes the token with oldHash and stores next.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, next *models.RefreshToken, now time.Time) (*models.RefreshToken, error) {
	now = now.UTC()
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	old, ok := s.tokens[oldHash]
	switch {
	case !ok || oldHash == "":
		return nil, models.Errorf(models.EUNAUTHORIZED, "unknown refresh token")
	case old.RevokedAt != nil:
		return nil, models.Errorf(models.EUNAUTHORIZED, "refresh token revoked")
	case old.UsedAt != nil:
		s.revokeFamily(old.FamilyID, now)
		return nil, models.Errorf(models.EUNAUTHORIZED, "refresh token already used")
	case !now.Before(old.ExpiresAt):
		return nil, models.Errorf(models.EUNAUTHORIZED, "refresh token expired")
	}
	n := *next
	n.FamilyID = old.FamilyID
	if n.AgentID == "" {
		n.AgentID = old.AgentID
	}
	if n.TokenVersion == 0 {
		n.TokenVersion = old.TokenVersion
	}
	if err := prepareToken(&n, now); err != nil {
		return nil, err
	}
	if _, ok := s.tokens[n.TokenHash]; ok {
		return nil, models.Errorf(models.ECONFLICT, "refresh token exists")
	}
	old.UsedAt = utcPtr(now)
	s.tokens[n.TokenHash] = copyToken(&n)
	*next = n
	return copyToken(old), nil
}

func (s *Store) revokeFamily(family string, now time.Time) {
	for _, t := range s.tokens {
		if t.FamilyID == family && t.RevokedAt == nil {
			t.RevokedAt = utcPtr(now)
		}
	}
}

// RevokeRefreshFamily revokes the family of the token with hash.
func (s *Store) RevokeRefreshFamily(ctx context.Context, hash string, now time.Time) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if t, ok := s.tokens[hash]; ok {
		s.revokeFamily(t.FamilyID, now)
	}
	return nil
}

// ---- visitors

// CreateVisitor stores a new visitor.
func (s *Store) CreateVisitor(ctx context.Context, v *models.Visitor) error {
	if v.TokenHash == "" {
		return models.Errorf(models.EINVALID, "a visitor needs a token hash")
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.visitorByToken[v.TokenHash]; ok {
		return models.Errorf(models.ECONFLICT, "visitor token exists")
	}
	if v.ID == "" {
		v.ID = uuid.NewString()
	}
	if _, ok := s.visitors[v.ID]; ok {
		return models.Errorf(models.ECONFLICT, "visitor %s exists", v.ID)
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = time.Now()
	}
	if v.LastSeenAt.IsZero() {
		v.LastSeenAt = v.CreatedAt
	}
	v.CreatedAt, v.LastSeenAt = v.CreatedAt.UTC(), v.LastSeenAt.UTC()
	s.visitors[v.ID] = copyVisitor(v)
	s.visitorByToken[v.TokenHash] = v.ID
	return nil
}

// Visitor returns the visitor with the id.
func (s *Store) Visitor(ctx context.Context, id string) (*models.Visitor, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	v, ok := s.visitors[id]
	if !ok {
		return nil, models.Errorf(models.ENOTFOUND, "visitor not found")
	}
	return copyVisitor(v), nil
}

// VisitorByTokenHash returns the visitor whose token hashes to hash.
func (s *Store) VisitorByTokenHash(ctx context.Context, hash string) (*models.Visitor, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if v, ok := s.visitors[s.visitorByToken[hash]]; ok && hash != "" {
		return copyVisitor(v), nil
	}
	return nil, models.Errorf(models.ENOTFOUND, "visitor not found")
}

// UpdateVisitor applies the non-nil fields of u and sets LastSeenAt.
func (s *Store) UpdateVisitor(ctx context.Context, id string, u models.VisitorUpdate) (*models.Visitor, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	v, ok := s.visitors[id]
	if !ok {
		return nil, models.Errorf(models.ENOTFOUND, "visitor not found")
	}
	for _, f := range []struct {
		dst *string
		src *string
	}{
		{&v.PageURL, u.PageURL}, {&v.PageTitle, u.PageTitle}, {&v.Lang, u.Lang}, {&v.UserAgent, u.UserAgent},
		{&v.Name, u.Name}, {&v.Email, u.Email}, {&v.ExternalID, u.ExternalID},
	} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if u.Verified != nil {
		v.Verified = *u.Verified
	}
	v.LastSeenAt = nowOr(u.Now)
	return copyVisitor(v), nil
}
