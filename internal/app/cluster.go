package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"time"

	"github.com/kefu-chat/kefu/chat"
	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/routing"
)

// shared reports whether this instance may have peers: a bus other than the
// in-memory one carries events between instances, so presence must be
// shared through the database too (docs/deploy.md).
func (a *App) shared() bool { return a.Config.Bus != "" && a.Config.Bus != "memory" }

// newInstanceID names this process's presence rows: the host name, for
// whoever reads the table, and a random part, since a restarted process is
// a new instance whose predecessor's rows must go stale on their own.
func newInstanceID() string {
	host, _ := os.Hostname()
	if len(host) > 60 {
		host = host[:60]
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
}

// sharePresence builds the instance's SharedPresence and the shared
// VisitorTracker, under one instance id, when it has peers: agents'
// presence for the dispatchers, shoppers' for the away mail.
func (a *App) sharePresence() error {
	if !a.shared() {
		return nil
	}
	id := newInstanceID()
	p, err := routing.NewSharedPresence(a.Dispatcher, a.Store, routing.SharedPresenceOptions{
		InstanceID: id, Heartbeat: a.Config.PresenceHeartbeat, Logger: a.log})
	if err != nil {
		return err
	}
	a.Presence = p
	a.Visitors, err = chat.NewVisitorTracker(a.Hub, chat.VisitorTrackerOptions{Store: a.Store, InstanceID: id,
		Heartbeat: a.Config.PresenceHeartbeat, Logger: a.log})
	return err
}

// startPresence runs the presence heartbeats until ctx ends.
func (a *App) startPresence(ctx context.Context) {
	if a.Presence == nil {
		return
	}
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		if err := a.Presence.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("presence heartbeat stopped", "err", err)
		}
	}()
	go func() {
		defer a.wg.Done()
		if err := a.Visitors.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("instance beat stopped", "err", err)
		}
	}()
}

// leavePresence deletes this instance's presence rows so that its peers
// start their agents' grace periods at their next heartbeat, and count its
// shoppers as gone at once.
func (a *App) leavePresence() error {
	if a.Presence == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(a.Presence.Leave(ctx), a.Visitors.Leave(ctx))
}

// busPrefix is the bus's channel or subject prefix; "kefu" when the Config
// was built by hand without one.
func busPrefix(cfg config.Config) string {
	if cfg.BusPrefix == "" {
		return "kefu"
	}
	return cfg.BusPrefix
}
