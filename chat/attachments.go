package chat

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// AttachmentOptions configures attachments. Blobs, Signer and BaseURL are
// required; zero numbers take the documented defaults.
type AttachmentOptions struct {
	Blobs  models.BlobStore
	Signer Signer
	// BaseURL is Kefu's public URL: links must be absolute, because the
	// widget runs on the shop's pages, another origin.
	BaseURL string
	// MaxBytes is the largest file accepted; default 10 MiB.
	MaxBytes int64
	// Types are the media types accepted, as http.DetectContentType names
	// them without parameters; default config.DefaultAttachmentTypes.
	Types []string
	// URLTTL is how long a signed link works; default 15 minutes.
	URLTTL time.Duration
}

// Signer makes and checks expiring signatures; *auth.Signer (made with
// SignerPurpose) is the one Kefu uses. An interface, so that chat does not
// import the HTTP layer's auth package.
type Signer interface {
	// Sign returns "<exp unix seconds>.<mac>" for payload.
	Sign(payload string, exp time.Time) string
	// Verify returns EUNAUTHORIZED unless sig was made by Sign for payload
	// and has not expired at now.
	Verify(payload, sig string, now time.Time) error
}

// attachments is the service's part for files.
type attachments struct {
	AttachmentOptions
}

// SignerPurpose is the purpose attachment links are signed for
// (auth.NewSigner), so that no other signature passes for one.
const SignerPurpose = "attachment-url"

// SetAttachments turns attachments on. Call it before serving.
func (s *Service) SetAttachments(o AttachmentOptions) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 10 << 20
	}
	if len(o.Types) == 0 {
		o.Types = []string{"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"}
	}
	if o.URLTTL <= 0 {
		o.URLTTL = 15 * time.Minute
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	s.files = &attachments{o}
}

// Upload is a file a shopper or agent sends.
type Upload struct {
	// ConversationID is where it goes; a shopper may leave it empty for
	// their open conversation.
	ConversationID string
	// ClientID makes the upload idempotent, as for messages: a retry with
	// the same ClientID stores nothing more and gets the same answer.
	ClientID string
	// Name is the file name the uploader gave; only its last path element
	// is kept, cleaned, as text.
	Name string
	// Body is the file's bytes. It is read once, up to MaxBytes+1.
	Body io.Reader
}

// UploadResult is the answer to an upload: the acknowledgement, as for a
// message frame, and the stored message with its attachment.
type UploadResult struct {
	Ack     wire.ServerFrame
	Message wire.MessageView
}

// InlineType reports whether files of the media type are shown inline
// (images); all others are served as downloads.
func InlineType(t string) bool {
	switch t {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return true
	}
	return false
}

func (s *Service) filesOn() (*attachments, error) {
	if s.files == nil {
		return nil, models.Errorf(models.ENOTFOUND, "attachments are not enabled")
	}
	return s.files, nil
}

// VisitorUpload stores a shopper's file in their conversation. The
// conversation must be open (ECONFLICT otherwise: a file cannot start a
// conversation; the first message does).
func (s *Service) VisitorUpload(ctx context.Context, v *models.Visitor, u Upload) (UploadResult, error) {
	if _, err := s.filesOn(); err != nil {
		return UploadResult{}, err
	}
	var c *models.Conversation
	var err error
	if u.ConversationID == "" {
		c, err = s.store.OpenConversationOf(ctx, v.ID)
		if models.ErrorCode(err) == models.ENOTFOUND {
			return UploadResult{}, models.Errorf(models.ECONFLICT, "you have no open conversation: send a message first")
		}
	} else {
		c, err = s.store.Conversation(ctx, u.ConversationID)
		if err == nil && c.VisitorID != v.ID {
			err = models.Errorf(models.ENOTFOUND, "no such conversation")
		}
	}
	if err != nil {
		return UploadResult{}, err
	}
	return s.upload(ctx, c, models.NewMessage{ConversationID: c.ID, SenderKind: models.SenderVisitor, SenderID: v.ID}, "", u)
}

// AgentUpload stores an agent's file in a conversation assigned to them:
// ENOTFOUND if they may not read it, EFORBIDDEN if they do not hold it.
func (s *Service) AgentUpload(ctx context.Context, a *models.Agent, u Upload) (UploadResult, error) {
	if _, err := s.filesOn(); err != nil {
		return UploadResult{}, err
	}
	c, err := s.heldBy(ctx, a, u.ConversationID)
	if err != nil {
		return UploadResult{}, err
	}
	return s.upload(ctx, c, models.NewMessage{ConversationID: c.ID, SenderKind: models.SenderAgent, SenderID: a.ID,
		RequireAgentID: a.ID}, a.Name, u)
}

// sniffLen is how much http.DetectContentType looks at.
const sniffLen = 512

// upload checks the file's type from its first bytes, stores the blob,
// then the row and its message in one transaction, then publishes. On any
// failure nothing stays stored: the blob store's Put is all or nothing,
// and a blob whose row could not be stored is deleted.
func (s *Service) upload(ctx context.Context, c *models.Conversation, m models.NewMessage, senderName string, u Upload) (UploadResult, error) {
	f := s.files
	if err := checkClientID(u.ClientID); err != nil {
		return UploadResult{}, err
	}
	name := CleanFileName(u.Name)
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(u.Body, head)
	switch {
	case errors.Is(err, io.EOF) || n == 0:
		return UploadResult{}, models.Errorf(models.EINVALID, "the file is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
	case err != nil:
		return UploadResult{}, readErr(err)
	}
	head = head[:n]
	typ, _, _ := mime.ParseMediaType(http.DetectContentType(head))
	if !slices.Contains(f.Types, typ) {
		return UploadResult{}, models.Errorf(models.EINVALID, "files of type %s may not be sent here (allowed: %s)", typ, strings.Join(f.Types, ", "))
	}
	if int64(n) > f.MaxBytes {
		return UploadResult{}, tooLarge(f.MaxBytes)
	}
	key := uuid.NewString()
	size, err := f.Blobs.Put(ctx, key, &limitReader{r: io.MultiReader(bytes.NewReader(head), u.Body), left: f.MaxBytes, max: f.MaxBytes})
	if err != nil {
		return UploadResult{}, readErr(err)
	}
	m.ClientID, m.Body, m.Now = u.ClientID, name, s.now()
	att := &models.Attachment{ID: uuid.NewString(), Name: name, ContentType: typ, Size: size, BlobKey: key}

	unlock := s.lock(c.ID)
	defer unlock()
	res, err := s.store.SendAttachment(ctx, m, att)
	if err != nil || res.Duplicate {
		// The row was not stored (or a retry's first upload was): the new
		// blob belongs to nothing. Delete it even if the request is gone.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if derr := f.Blobs.Delete(dctx, key); derr != nil {
			s.log.Error("deleting the blob of a refused upload", "key", key, "err", derr)
		}
		cancel()
	}
	if err != nil {
		return UploadResult{}, err
	}
	views, err := s.messageViews(ctx, []*models.Message{res.Message})
	if err != nil {
		return UploadResult{}, err
	}
	view := views[0]
	if !res.Duplicate {
		view.SenderName = senderName
		to := models.Audience{Visitors: []string{res.Conversation.VisitorID}}
		if res.Conversation.AgentID != nil {
			to.Agents = []string{*res.Conversation.AgentID}
		}
		s.publish(ctx, models.EventMessage, to, wire.ServerFrame{Type: wire.TypeMessage, Message: &view})
	}
	return UploadResult{Ack: ackFrame(res.Message), Message: view}, nil
}

func checkClientID(id string) error {
	switch {
	case id == "":
		return models.Errorf(models.EINVALID, "client_id is required")
	case len(id) > 64:
		return models.Errorf(models.EINVALID, "client_id is longer than 64 characters")
	}
	return nil
}

func tooLarge(max int64) error {
	return models.Errorf(models.ETOOLARGE, "the file is larger than %d bytes", max)
}

// readErr keeps coded errors (the size limit's ETOOLARGE) and reports any
// other failure to read the body as the client's broken upload.
func readErr(err error) error {
	var me *models.Error
	if errors.As(err, &me) {
		return err
	}
	return &models.Error{Code: models.EINVALID, Message: "the upload was cut off", Err: err}
}

// limitReader fails with ETOOLARGE as soon as more than left bytes are
// read, so that the blob store discards the partial file.
type limitReader struct {
	r         io.Reader
	left, max int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, tooLarge(l.max)
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return 0, tooLarge(l.max)
	}
	return n, err
}

// CleanFileName returns the name to keep for an uploaded file: the last
// element of any path, without control or format characters, at most 200
// bytes, and "file" when nothing is left. It is still untrusted text.
func CleanFileName(name string) string {
	name = strings.ReplaceAll(name, `\`, "/")
	name = path.Base("/" + name)
	name = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	name = clip(name, 200)
	if name == "" || name == "." || name == ".." || name == "/" {
		return "file"
	}
	return name
}

// attachmentPayload is what a link's signature covers: the attachment's
// id, so a link for one file never opens another.
func attachmentPayload(id string) string { return "attachment:" + id }

// AttachmentURL returns a signed link to the attachment and when it
// expires. It does not check who asks: callers hand links only to the
// parties of the attachment's conversation.
func (s *Service) AttachmentURL(id string) (string, time.Time) {
	f := s.files
	exp := s.now().Add(f.URLTTL).Truncate(time.Second)
	sig := f.Signer.Sign(attachmentPayload(id), exp)
	e, mac, _ := strings.Cut(sig, ".")
	return f.BaseURL + "/files/" + url.PathEscape(id) + "?exp=" + e + "&sig=" + mac, exp
}

// OpenAttachment checks a signed link's exp and sig for the attachment
// and returns it with a reader of its bytes, which the caller closes.
// EUNAUTHORIZED for a bad or expired signature; ENOTFOUND if the
// attachment is gone.
func (s *Service) OpenAttachment(ctx context.Context, id, exp, sig string) (*models.Attachment, io.ReadCloser, error) {
	f, err := s.filesOn()
	if err != nil {
		return nil, nil, err
	}
	if strings.Contains(exp, ".") {
		return nil, nil, models.Errorf(models.EUNAUTHORIZED, "invalid signature")
	}
	if err := f.Signer.Verify(attachmentPayload(id), exp+"."+sig, s.opts.Now()); err != nil {
		return nil, nil, err
	}
	a, err := s.store.Attachment(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	r, err := f.Blobs.Open(ctx, a.BlobKey)
	if err != nil {
		return nil, nil, err
	}
	return a, r, nil
}

// VisitorAttachmentURL returns a fresh link to an attachment of the
// shopper's own conversation; ENOTFOUND for any other.
func (s *Service) VisitorAttachmentURL(ctx context.Context, v *models.Visitor, id string) (string, time.Time, error) {
	a, err := s.attachmentIn(ctx, id)
	if err != nil {
		return "", time.Time{}, err
	}
	c, err := s.store.Conversation(ctx, a.ConversationID)
	if err != nil {
		return "", time.Time{}, err
	}
	if c.VisitorID != v.ID {
		return "", time.Time{}, models.Errorf(models.ENOTFOUND, "no such attachment")
	}
	u, exp := s.AttachmentURL(id)
	return u, exp, nil
}

// AgentAttachmentURL returns a fresh link to an attachment of a
// conversation the agent may read; ENOTFOUND for any other.
func (s *Service) AgentAttachmentURL(ctx context.Context, ag *models.Agent, id string) (string, time.Time, error) {
	a, err := s.attachmentIn(ctx, id)
	if err != nil {
		return "", time.Time{}, err
	}
	if _, err := s.Conversation(ctx, ag, a.ConversationID); err != nil {
		if models.ErrorCode(err) == models.ENOTFOUND {
			return "", time.Time{}, models.Errorf(models.ENOTFOUND, "no such attachment")
		}
		return "", time.Time{}, err
	}
	u, exp := s.AttachmentURL(id)
	return u, exp, nil
}

func (s *Service) attachmentIn(ctx context.Context, id string) (*models.Attachment, error) {
	if _, err := s.filesOn(); err != nil {
		return nil, err
	}
	a, err := s.store.Attachment(ctx, id)
	if models.ErrorCode(err) == models.ENOTFOUND {
		return nil, models.Errorf(models.ENOTFOUND, "no such attachment")
	}
	return a, err
}

// addAttachments fills in the attachment, with a fresh link, of each view
// whose message carries one. views[i] is the view of msgs[i].
func (s *Service) addAttachments(ctx context.Context, msgs []*models.Message, views []wire.MessageView) error {
	if s.files == nil || len(msgs) == 0 {
		return nil
	}
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if m.SenderKind != models.SenderSystem {
			ids = append(ids, m.ID)
		}
	}
	byMsg, err := s.store.MessageAttachments(ctx, ids)
	if err != nil {
		return err
	}
	for i, m := range msgs {
		if a := byMsg[m.ID]; a != nil {
			u, _ := s.AttachmentURL(a.ID)
			views[i].Attachment = &wire.AttachmentView{ID: a.ID, Name: a.Name, Type: a.ContentType, Size: a.Size, URL: u}
		}
	}
	return nil
}

// ContentDisposition returns the Content-Disposition a file is served
// with: inline for images, attachment (a download) for everything else,
// with the name encoded so that no byte of it can break the header.
func ContentDisposition(a *models.Attachment) string {
	kind := "attachment"
	if InlineType(a.ContentType) {
		kind = "inline"
	}
	if d := mime.FormatMediaType(kind, map[string]string{"filename": a.Name}); d != "" {
		return d
	}
	return kind
}
