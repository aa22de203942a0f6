package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"sync"
	"time"
)

// rawConn is the bench's own websocket client for idle shoppers: the
// opening handshake written and checked by hand, then RFC 6455 frames. The
// library's Dialer builds and parses the handshake through net/http, and
// that cost as much CPU per connection as a bare server spends accepting
// it; with the tool and the server on the same two cores, the connect rate
// then measured the tool. This client does what an idle shopper needs and
// no more: send text frames (masked, as clients must), read text messages
// (reassembling fragments), answer pings and close frames.
type rawConn struct {
	nc  net.Conn
	br  *bufio.Reader
	wmu sync.Mutex // writes come from the read loop (pongs) and closeAll
}

const (
	opContinuation = 0x0
	opText         = 0x1
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA

	// maxMessage bounds what a message may grow to, so that a confused
	// server cannot make the tool allocate without bound.
	maxMessage = 1 << 20
)

var acceptGUID = []byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11")

// errClosed is returned by readMessage after the server's close frame.
var errClosed = errors.New("websocket closed by the server")

// dialRaw opens a websocket to u (ws://host/path) with the Origin header.
func dialRaw(ctx context.Context, d *net.Dialer, u *url.URL, origin string) (*rawConn, error) {
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	path := u.RequestURI()
	req := make([]byte, 0, 256)
	req = append(req, "GET "...)
	req = append(req, path...)
	req = append(req, " HTTP/1.1\r\nHost: "...)
	req = append(req, u.Host...)
	req = append(req, "\r\nUser-Agent: kefu-bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "...)
	req = append(req, key...)
	if origin != "" {
		req = append(req, "\r\nOrigin: "...)
		req = append(req, origin...)
	}
	req = append(req, "\r\n\r\n"...)
	if _, err := nc.Write(req); err != nil {
		nc.Close()
		return nil, err
	}
	c := &rawConn{nc: nc, br: bufio.NewReaderSize(nc, 1024)}
	if err := c.readHandshake(key); err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

// readHandshake reads the server's answer: 101 with the expected
// Sec-WebSocket-Accept.
func (c *rawConn) readHandshake(key string) error {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write(acceptGUID)
	want := base64.StdEncoding.EncodeToString(h.Sum(nil))
	status, err := c.br.ReadSlice('\n')
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 101 ")) {
		return fmt.Errorf("handshake: %s", bytes.TrimSpace(status))
	}
	accepted := false
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("handshake: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(name, []byte("Sec-WebSocket-Accept")) && string(bytes.TrimSpace(value)) == want {
			accepted = true
		}
	}
	if !accepted {
		return errors.New("handshake: missing or wrong Sec-WebSocket-Accept")
	}
	return nil
}

// write sends one frame with opcode op, masked with a random key (the
// server only checks that client frames are masked).
func (c *rawConn) write(op byte, payload []byte, deadline time.Time) error {
	buf := make([]byte, 0, 14+len(payload))
	buf = append(buf, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		buf = append(buf, 0x80|byte(n))
	case n <= 0xffff:
		buf = append(buf, 0x80|126, byte(n>>8), byte(n))
	default:
		buf = append(buf, 0x80|127)
		buf = binary.BigEndian.AppendUint64(buf, uint64(n))
	}
	var mask [4]byte
	binary.LittleEndian.PutUint32(mask[:], mrand.Uint32())
	buf = append(buf, mask[:]...)
	for i, b := range payload {
		buf = append(buf, b^mask[i&3])
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(deadline)
	_, err := c.nc.Write(buf)
	return err
}

// readMessage returns the next text (or binary) message, answering pings
// on the way; errClosed after the server's close frame, which it answers.
func (c *rawConn) readMessage() ([]byte, error) {
	var msg []byte
	for {
		var hdr [2]byte
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			return nil, err
		}
		fin, op := hdr[0]&0x80 != 0, hdr[0]&0x0f
		if hdr[1]&0x80 != 0 {
			return nil, errors.New("the server sent a masked frame")
		}
		n := uint64(hdr[1] & 0x7f)
		switch n {
		case 126:
			var ext [2]byte
			if _, err := io.ReadFull(c.br, ext[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			if _, err := io.ReadFull(c.br, ext[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(ext[:])
		}
		if n > maxMessage || uint64(len(msg))+n > maxMessage {
			return nil, fmt.Errorf("a frame of %d bytes is over the bench's limit", n)
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(c.br, payload); err != nil {
			return nil, err
		}
		switch op {
		case opPing:
			if err := c.write(opPong, payload, time.Now().Add(10*time.Second)); err != nil {
				return nil, err
			}
		case opPong:
		case opClose:
			_ = c.write(opClose, payload[:min(len(payload), 2)], time.Now().Add(time.Second))
			return nil, errClosed
		case opContinuation:
			msg = append(msg, payload...)
			if fin {
				return msg, nil
			}
		default: // text or binary
			if fin {
				return payload, nil
			}
			msg = payload
		}
	}
}

// close sends a normal close frame and closes the socket.
func (c *rawConn) close() {
	_ = c.write(opClose, []byte{0x03, 0xe8}, time.Now().Add(time.Second)) // 1000
	_ = c.nc.Close()
}
