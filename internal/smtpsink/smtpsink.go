// Package smtpsink is a tiny SMTP server for tests: it accepts every mail
// on 127.0.0.1 and hands it to the test, so the offline life cycle can be
// checked end to end without a real mail server. It speaks just enough
// SMTP for net/smtp (no TLS, no AUTH).
package smtpsink

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Sink is a running SMTP server.
type Sink struct {
	Addr string // host:port to put in KEFU_SMTP_URL
	mail chan Mail
	ln   net.Listener
	wg   sync.WaitGroup
}

// Mail is one message the sink received.
type Mail struct {
	From string
	To   []string
	Data string // headers and body, dot-unstuffing not applied
}

// Start starts a sink that stops when the test ends.
func Start(t testing.TB) *Sink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Sink{Addr: ln.Addr().String(), mail: make(chan Mail, 16), ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *Sink) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	say := func(line string) { _, _ = c.Write([]byte(line + "\r\n")) }
	say("220 sink ready")
	var m Mail
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 sink")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			m = Mail{From: strings.TrimSpace(line[10:])}
			say("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			m.To = append(m.To, strings.Trim(strings.TrimSpace(line[8:]), "<>"))
			say("250 ok")
		case cmd == "DATA":
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			m.Data = b.String()
			s.mail <- m
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

// Next returns the next mail, failing the test if none comes within 10 s.
func (s *Sink) Next(t testing.TB) Mail {
	t.Helper()
	select {
	case m := <-s.mail:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no mail within 10s")
	}
	return Mail{}
}

// None fails the test if a mail arrives within d.
func (s *Sink) None(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case m := <-s.mail:
		t.Fatalf("unexpected mail to %v", m.To)
	case <-time.After(d):
	}
}
