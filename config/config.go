// Package config defines Kefu's settings: one Config struct, its documented
// defaults, and how flags and KEFU_* environment variables fill it. Every
// setting is both a flag and an environment variable; a flag given on the
// command line wins over the environment. It uses the standard library only.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is everything Kefu can be told. The zero value is not valid; use
// Default or Load.
type Config struct {
	Addr      string // KEFU_ADDR: where to listen
	Data      string // KEFU_DATA: folder for the SQLite database, keys and the first admin's password
	PublicURL string // KEFU_PUBLIC_URL: how shoppers and agents reach Kefu; default http:// + Addr
	DB        string // KEFU_DB: empty for SQLite in Data, or postgres://…
	Bus       string // KEFU_BUS: memory, redis://… or nats://…
	BusPrefix string // KEFU_BUS_PREFIX: names the Redis channel or NATS subject, so deployments can share a server
	// Limits (KEFU_LIMITS) is where rate-limit and login-failure counts are
	// kept: empty (the default) means the bus's Redis when KEFU_BUS is
	// redis://…, else this process's memory; "memory" keeps them per
	// instance whatever the bus; redis://… names a Redis for them (with a
	// NATS bus, for instance). See LimitsRedis.
	Limits string
	// Blobs (KEFU_BLOBS) is where attached files' bytes are kept: "files"
	// (the default), a folder in the data folder, or "db", the database,
	// which every instance reaches.
	Blobs  string
	JWTKey string // KEFU_JWT_KEY: HMAC key for access tokens; empty: generated once, kept in Data

	AllowedOrigins []string // KEFU_ALLOWED_ORIGINS: shop origins whose pages may open the widget socket
	TrustedProxies []string // KEFU_TRUSTED_PROXIES: proxies whose X-Forwarded-For is believed

	// Abuse limits (docs/security.md). Per-IP limits of 0 are off.
	FramesPerSecond        int      // KEFU_FRAMES_PER_SECOND: steady websocket frames per connection (over it: close 1008)
	FrameBurst             int      // KEFU_FRAME_BURST: websocket frames a connection may send at once
	ConnectionsPerMinute   int      // KEFU_CONNECTIONS_PER_MINUTE: new websocket connections per IP (over it: 429)
	ConversationsPerHour   int      // KEFU_CONVERSATIONS_PER_HOUR: new conversations per IP
	LoginAttemptsPerIP     int      // KEFU_LOGIN_ATTEMPTS_PER_IP: login attempts per IP per 15 minutes (over it: 429)
	LoginFailuresFree      int      // KEFU_LOGIN_FAILURES_FREE: failed logins per account before backoff (1s, doubling to 15m)
	RateLimitExempt        []string // KEFU_RATE_LIMIT_EXEMPT: IPs or CIDRs the per-IP limits skip (load tests from one address)
	IdentitySecret         string   // KEFU_IDENTITY_SECRET: shared with the shop's backend to sign customers' identities
	IdentitySecretPrevious string   // KEFU_IDENTITY_SECRET_PREVIOUS: still accepted while the shop switches to a new secret

	AccessTTL  time.Duration // KEFU_ACCESS_TTL: lifetime of an access token (at most 15m)
	RefreshTTL time.Duration // KEFU_REFRESH_TTL: lifetime of a refresh token

	DefaultMaxChats int           // KEFU_DEFAULT_MAX_CHATS: cap for agents without their own
	GracePeriod     time.Duration // KEFU_GRACE_PERIOD: how long a disconnected agent keeps their chats
	// PresenceHeartbeat (KEFU_PRESENCE_HEARTBEAT) is how often an instance on
	// a shared bus writes its agents' presence to the database; another
	// instance's agents count as gone 3 heartbeats after its last one.
	PresenceHeartbeat time.Duration
	// UnansweredAfter (KEFU_UNANSWERED_AFTER): an assigned conversation whose
	// agent has not replied this long after the assignment goes to another
	// agent; 0 (the default) turns it off.
	UnansweredAfter time.Duration
	// InactivityTimeout (KEFU_INACTIVITY_TIMEOUT): an open conversation with
	// no message for this long is closed; 0 (the default) turns it off.
	InactivityTimeout time.Duration
	// SMTPURL (KEFU_SMTP_URL): smtp://[user:password@]host:port?from=address;
	// agents' replies to shoppers who left are mailed through it. Empty: no
	// e-mail, and shoppers are told replies wait for their return.
	SMTPURL string

	MaxMessageBytes int // KEFU_MAX_MESSAGE_BYTES: longest message text
	MaxFrameBytes   int // KEFU_MAX_FRAME_BYTES: largest websocket frame read
	MaxBodyBytes    int // KEFU_MAX_BODY_BYTES: largest HTTP request body

	MaxAttachmentBytes int           // KEFU_MAX_ATTACHMENT_BYTES: largest file a shopper or agent may send
	AttachmentTypes    []string      // KEFU_ATTACHMENT_TYPES: media types, detected from the bytes, that may be sent
	AttachmentLinkTTL  time.Duration // KEFU_ATTACHMENT_LINK_TTL: how long a signed link to a file works (1s to 24h)
	SendQueue          int           // KEFU_SEND_QUEUE: frames queued per connection before it is cut off
	PingInterval       time.Duration // KEFU_PING_INTERVAL: websocket keepalive
	WriteTimeout       time.Duration // KEFU_WRITE_TIMEOUT: longest a frame may take to write
	HelloTimeout       time.Duration // KEFU_HELLO_TIMEOUT: how long a visitor socket may stay silent before hello
	RevalidateEvery    time.Duration // KEFU_REVALIDATE_EVERY: how often open agent sockets are checked against revocations

	LogLevel  string // KEFU_LOG_LEVEL: debug, info, warn, error
	LogFormat string // KEFU_LOG_FORMAT: text or json

	// Metrics are off unless one of these is set (docs/api.md).
	MetricsAddr  string // KEFU_METRICS_ADDR: separate listen address for /metrics; empty: none
	MetricsToken string // KEFU_METRICS_TOKEN: bearer token for /metrics; set: also served on the main address
}

// Default returns the documented defaults.
func Default() Config {
	return Config{
		Addr:               "127.0.0.1:8080",
		Data:               "./data",
		Bus:                "memory",
		BusPrefix:          "kefu",
		Blobs:              BlobsFiles,
		AccessTTL:          15 * time.Minute,
		RefreshTTL:         30 * 24 * time.Hour,
		DefaultMaxChats:    5,
		GracePeriod:        60 * time.Second,
		PresenceHeartbeat:  2 * time.Second,
		MaxMessageBytes:    4096,
		MaxFrameBytes:      64 * 1024,
		MaxBodyBytes:       1 << 20,
		MaxAttachmentBytes: 10 << 20,
		AttachmentTypes:    DefaultAttachmentTypes(),
		AttachmentLinkTTL:  15 * time.Minute,
		SendQueue:          256,
		PingInterval:       25 * time.Second,
		WriteTimeout:       10 * time.Second,
		HelloTimeout:       10 * time.Second,
		RevalidateEvery:    5 * time.Second,

		FramesPerSecond:      20,
		FrameBurst:           40,
		ConnectionsPerMinute: 120,
		ConversationsPerHour: 60,
		LoginAttemptsPerIP:   60,
		LoginFailuresFree:    5,

		LogLevel:  "info",
		LogFormat: "text",
	}
}

// FlagSet returns a flag set bound to c, named name. Each flag's default is
// c's current value, and each flag's usage names its environment variable.
func (c *Config) FlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	for _, s := range c.settings() {
		fs.Var(s.value, s.name, s.usage+" (env "+envName(s.name)+")")
	}
	return fs
}

// Load returns the defaults, overridden by the environment (read through
// getenv), overridden by args. It validates the result.
func Load(name string, args []string, getenv func(string) string) (Config, *flag.FlagSet, error) {
	c := Default()
	if err := c.ApplyEnv(getenv); err != nil {
		return c, nil, err
	}
	fs := c.FlagSet(name)
	if err := fs.Parse(args); err != nil {
		return c, fs, err
	}
	c.Finish()
	return c, fs, c.Validate()
}

// ApplyEnv sets every setting whose KEFU_* variable is non-empty.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	for _, s := range c.settings() {
		if v := getenv(envName(s.name)); v != "" {
			if err := s.value.Set(v); err != nil {
				return fmt.Errorf("%s: %w", envName(s.name), err)
			}
		}
	}
	return nil
}

// Finish fills settings whose defaults depend on others.
func (c *Config) Finish() {
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Addr
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr %q: %w", c.Addr, err))
	}
	if c.Data == "" {
		errs = append(errs, errors.New("data: must not be empty"))
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("public-url %q: must be an http or https URL", c.PublicURL))
	}
	for _, o := range c.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			errs = append(errs, fmt.Errorf("allowed-origins: %q is not an origin like https://shop.example", o))
		}
	}
	if c.DB != "" && !strings.HasPrefix(c.DB, "postgres://") && !strings.HasPrefix(c.DB, "postgresql://") && !strings.HasPrefix(c.DB, "sqlite:") {
		errs = append(errs, fmt.Errorf("db %q: must be empty (SQLite in the data folder), sqlite:PATH or postgres://…", c.DB))
	}
	if c.Bus != "memory" && !strings.HasPrefix(c.Bus, "redis://") && !strings.HasPrefix(c.Bus, "nats://") {
		errs = append(errs, fmt.Errorf("bus %q: must be memory, redis://… or nats://…", c.Bus))
	}
	if c.Limits != "" && c.Limits != "memory" && !strings.HasPrefix(c.Limits, "redis://") && !strings.HasPrefix(c.Limits, "rediss://") {
		errs = append(errs, fmt.Errorf("limits %q: must be empty (follow the bus), memory or redis://…", c.Limits))
	}
	if c.Blobs != BlobsFiles && c.Blobs != BlobsDB {
		errs = append(errs, fmt.Errorf("blobs %q: must be %s or %s", c.Blobs, BlobsFiles, BlobsDB))
	}
	if !validBusPrefix(c.BusPrefix) {
		errs = append(errs, fmt.Errorf("bus-prefix %q: must be 1 to 64 letters, digits, - or _", c.BusPrefix))
	}
	if c.JWTKey != "" && len(c.JWTKey) < 32 {
		errs = append(errs, errors.New("jwt-key: must be at least 32 characters"))
	}
	if c.AccessTTL <= 0 || c.AccessTTL > 15*time.Minute {
		errs = append(errs, fmt.Errorf("access-ttl %s: must be more than 0 and at most 15m", c.AccessTTL))
	}
	if c.RefreshTTL < c.AccessTTL {
		errs = append(errs, errors.New("refresh-ttl: must be at least access-ttl"))
	}
	positive := map[string]int{"default-max-chats": c.DefaultMaxChats, "max-message-bytes": c.MaxMessageBytes,
		"max-frame-bytes": c.MaxFrameBytes, "max-body-bytes": c.MaxBodyBytes, "send-queue": c.SendQueue,
		"max-attachment-bytes": c.MaxAttachmentBytes}
	for name, v := range positive {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be more than 0", name))
		}
	}
	nonNegative := map[string]int{"connections-per-minute": c.ConnectionsPerMinute, "conversations-per-hour": c.ConversationsPerHour,
		"login-attempts-per-ip": c.LoginAttemptsPerIP, "login-failures-free": c.LoginFailuresFree}
	for name, v := range nonNegative {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s: must be 0 (off) or more", name))
		}
	}
	if c.FramesPerSecond <= 0 || c.FrameBurst < 1 {
		errs = append(errs, errors.New("frames-per-second and frame-burst: must be more than 0"))
	}
	for _, e := range c.RateLimitExempt {
		if net.ParseIP(e) == nil {
			if _, _, err := net.ParseCIDR(e); err != nil {
				errs = append(errs, fmt.Errorf("rate-limit-exempt: %q is not an IP address or CIDR", e))
			}
		}
	}
	for _, e := range c.TrustedProxies {
		if net.ParseIP(e) == nil {
			if _, _, err := net.ParseCIDR(e); err != nil {
				errs = append(errs, fmt.Errorf("trusted-proxies: %q is not an IP address or CIDR", e))
			}
		}
	}
	for name, v := range map[string]string{"identity-secret": c.IdentitySecret, "identity-secret-previous": c.IdentitySecretPrevious} {
		if v != "" && len(v) < 16 {
			errs = append(errs, fmt.Errorf("%s: must be at least 16 characters", name))
		}
	}
	if c.MaxMessageBytes > c.MaxFrameBytes {
		errs = append(errs, errors.New("max-message-bytes: must not exceed max-frame-bytes"))
	}
	if c.UnansweredAfter < 0 {
		errs = append(errs, errors.New("unanswered-after: must not be negative"))
	}
	if c.InactivityTimeout < 0 {
		errs = append(errs, errors.New("inactivity-timeout: must not be negative"))
	}
	if u, err := url.Parse(c.SMTPURL); c.SMTPURL != "" && (err != nil || u.Scheme != "smtp" || u.Port() == "") {
		errs = append(errs, errors.New("smtp-url: must be smtp://[user:password@]host:port?from=address"))
	}
	durations := map[string]time.Duration{"grace-period": c.GracePeriod, "presence-heartbeat": c.PresenceHeartbeat, "ping-interval": c.PingInterval,
		"write-timeout": c.WriteTimeout, "hello-timeout": c.HelloTimeout, "revalidate-every": c.RevalidateEvery}
	for name, v := range durations {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be more than 0", name))
		}
	}
	errs = append(errs, checkAttachmentTypes(c.AttachmentTypes)...)
	// A link is a credential anyone holding it can use: keep it short. Its
	// expiry is signed in whole seconds, so less than a second is no link.
	if c.AttachmentLinkTTL < time.Second || c.AttachmentLinkTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("attachment-link-ttl %s: must be between 1s and 24h", c.AttachmentLinkTTL))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log-level %q: must be debug, info, warn or error", c.LogLevel))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log-format %q: must be text or json", c.LogFormat))
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("metrics-addr %q: %w", c.MetricsAddr, err))
		}
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		errs = append(errs, errors.New("metrics-token: must be at least 16 characters"))
	}
	return errors.Join(errs...)
}

// Where attachments' bytes are kept (Config.Blobs).
const (
	BlobsFiles = "files" // a folder in the data folder; several instances must share it (a network mount)
	BlobsDB    = "db"    // the database (KEFU_DB), which every instance reaches
)

// LimitsRedis returns the Redis URL that rate-limit counts are kept in, or
// "" for this process's memory.
func (c *Config) LimitsRedis() string {
	switch {
	case c.Limits == "memory":
		return ""
	case c.Limits != "":
		return c.Limits
	case strings.HasPrefix(c.Bus, "redis://"):
		return c.Bus
	}
	return ""
}

// validBusPrefix reports whether p may prefix a Redis channel and a NATS
// subject (where "." and wildcards have meanings).
func validBusPrefix(p string) bool {
	if p == "" || len(p) > 64 {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// DefaultAttachmentTypes are the media types files may have unless
// configured otherwise: common images, which are shown inline, and PDF and
// plain text, which are offered as downloads.
func DefaultAttachmentTypes() []string {
	return []string{"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"}
}

// checkAttachmentTypes refuses malformed media types, and types a browser
// may run as a page or a script when opened (HTML, SVG, XML, JavaScript):
// Kefu serves files from its own origin, next to the console.
func checkAttachmentTypes(types []string) []error {
	var errs []error
	for _, t := range types {
		major, minor, ok := strings.Cut(t, "/")
		switch {
		case !ok || major == "" || minor == "" || strings.ContainsAny(t, "*;, ") || t != strings.ToLower(t):
			errs = append(errs, fmt.Errorf("attachment-types: %q is not a lower-case media type like image/png", t))
		case t == "text/html" || strings.Contains(t, "xml") || strings.Contains(t, "javascript") || strings.Contains(t, "svg") || strings.Contains(t, "ecmascript"):
			errs = append(errs, fmt.Errorf("attachment-types: %q could run as a page or script in a browser and is never allowed", t))
		}
	}
	return errs
}

type setting struct {
	name  string
	usage string
	value flag.Value
}

func (c *Config) settings() []setting {
	return []setting{
		{"addr", "address to listen on", (*stringValue)(&c.Addr)},
		{"data", "folder for the SQLite database and generated keys", (*stringValue)(&c.Data)},
		{"public-url", "URL shoppers and agents reach Kefu at (default http:// + addr)", (*stringValue)(&c.PublicURL)},
		{"db", "database: empty for SQLite in the data folder, sqlite:PATH, or postgres://…", (*stringValue)(&c.DB)},
		{"bus", "event bus between instances: memory, redis://… or nats://…", (*stringValue)(&c.Bus)},
		{"bus-prefix", "prefix of the bus's Redis channel or NATS subject; the same on every instance of one deployment", (*stringValue)(&c.BusPrefix)},
		{"limits", "where rate-limit and login-failure counts are kept: empty follows the bus (its Redis, else memory), memory, or redis://…", (*stringValue)(&c.Limits)},
		{"blobs", "where attached files are kept: files (a folder in the data folder) or db (the database, which every instance reaches)", (*stringValue)(&c.Blobs)},
		{"jwt-key", "HMAC key for access tokens, 32+ characters (default: generated once in the data folder)", (*stringValue)(&c.JWTKey)},
		{"allowed-origins", "comma-separated shop origins allowed to embed the widget (default: Kefu's own)", (*listValue)(&c.AllowedOrigins)},
		{"trusted-proxies", "comma-separated proxy IPs or CIDRs whose X-Forwarded-For is believed", (*listValue)(&c.TrustedProxies)},
		{"frames-per-second", "steady websocket frames per second per connection; over it the socket closes with 1008", (*intValue)(&c.FramesPerSecond)},
		{"frame-burst", "websocket frames a connection may send at once before frames-per-second applies", (*intValue)(&c.FrameBurst)},
		{"connections-per-minute", "new websocket connections per client IP per minute, 0 for no limit", (*intValue)(&c.ConnectionsPerMinute)},
		{"conversations-per-hour", "new conversations per client IP per hour, 0 for no limit", (*intValue)(&c.ConversationsPerHour)},
		{"login-attempts-per-ip", "login attempts per client IP per 15 minutes, 0 for no limit", (*intValue)(&c.LoginAttemptsPerIP)},
		{"login-failures-free", "failed logins per account before each further attempt waits (1s, doubling to 15m), 0 for no backoff", (*intValue)(&c.LoginFailuresFree)},
		{"rate-limit-exempt", "comma-separated IPs or CIDRs the per-IP limits skip, e.g. a load-test machine", (*listValue)(&c.RateLimitExempt)},
		{"identity-secret", "secret shared with the shop's backend for signed customer identities (16+ characters)", (*stringValue)(&c.IdentitySecret)},
		{"identity-secret-previous", "the previous identity secret, still accepted during a rotation", (*stringValue)(&c.IdentitySecretPrevious)},
		{"access-ttl", "lifetime of an access token, at most 15m", (*durationValue)(&c.AccessTTL)},
		{"refresh-ttl", "lifetime of a refresh token", (*durationValue)(&c.RefreshTTL)},
		{"default-max-chats", "concurrent conversations per agent, for agents without their own cap", (*intValue)(&c.DefaultMaxChats)},
		{"grace-period", "how long a disconnected agent keeps their conversations", (*durationValue)(&c.GracePeriod)},
		{"presence-heartbeat", "with a shared bus: how often agents' presence and the instance's beat are written to the database (gone after 3 missed)", (*durationValue)(&c.PresenceHeartbeat)},
		{"unanswered-after", "hand a conversation to another agent when its agent has not replied this long after getting it (0: off)", (*durationValue)(&c.UnansweredAfter)},
		{"inactivity-timeout", "close open conversations with no message for this long (0: never)", (*durationValue)(&c.InactivityTimeout)},
		{"smtp-url", "smtp://[user:password@]host:port?from=address for mailing replies to shoppers who left (empty: no e-mail)", (*stringValue)(&c.SMTPURL)},
		{"max-message-bytes", "longest message text in bytes", (*intValue)(&c.MaxMessageBytes)},
		{"max-frame-bytes", "largest websocket frame read, in bytes", (*intValue)(&c.MaxFrameBytes)},
		{"max-body-bytes", "largest HTTP request body, in bytes", (*intValue)(&c.MaxBodyBytes)},
		{"max-attachment-bytes", "largest file a shopper or agent may send, in bytes", (*intValue)(&c.MaxAttachmentBytes)},
		{"attachment-types", "comma-separated media types that may be sent as files, as detected from their bytes", (*listValue)(&c.AttachmentTypes)},
		{"attachment-link-ttl", "how long a signed link to a file works, 1s to 24h (clients fetch a fresh one when it expires)", (*durationValue)(&c.AttachmentLinkTTL)},
		{"send-queue", "frames queued per connection before a slow client is cut off", (*intValue)(&c.SendQueue)},
		{"ping-interval", "websocket keepalive interval", (*durationValue)(&c.PingInterval)},
		{"write-timeout", "longest time one websocket write may take", (*durationValue)(&c.WriteTimeout)},
		{"hello-timeout", "how long a new visitor socket may wait before its hello frame", (*durationValue)(&c.HelloTimeout)},
		{"revalidate-every", "how often open agent sockets are checked for revoked tokens", (*durationValue)(&c.RevalidateEvery)},
		{"log-level", "debug, info, warn or error", (*stringValue)(&c.LogLevel)},
		{"log-format", "text or json", (*stringValue)(&c.LogFormat)},
		{"metrics-addr", "separate address for /metrics, e.g. 127.0.0.1:9090 (default: none)", (*stringValue)(&c.MetricsAddr)},
		{"metrics-token", "bearer token for /metrics, 16+ characters; also serves it on the main address", (*stringValue)(&c.MetricsToken)},
	}
}

func envName(flagName string) string {
	return "KEFU_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

type stringValue string

func (v *stringValue) String() string     { return string(*v) }
func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }

type intValue int

func (v *intValue) String() string { return strconv.Itoa(int(*v)) }
func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	*v = intValue(n)
	return nil
}

type durationValue time.Duration

func (v *durationValue) String() string { return time.Duration(*v).String() }
func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration like 30s or 5m", s)
	}
	*v = durationValue(d)
	return nil
}

type listValue []string

func (v *listValue) String() string { return strings.Join(*v, ",") }
func (v *listValue) Set(s string) error {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	*v = out
	return nil
}
