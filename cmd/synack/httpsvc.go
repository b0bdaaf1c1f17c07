package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/cmd/synack/web"
	"github.com/synack-net/synack/stack"
	"github.com/synack-net/synack/trace"
)

// connKey is the context key under which the HTTP server keeps the
// synack connection a request arrived on.
type connKey struct{}

// serveHTTP starts Go's net/http on a synack listener.
func (s *server) serveHTTP(port int, root string) error {
	l, err := s.st.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port)), 128)
	if err != nil {
		return fmt.Errorf("http service: %w", err)
	}
	s.startHTTP(l, root)
	return nil
}

// startHTTP serves HTTP on l, under serve's limits, until s.http is shut
// down.
func (s *server) startHTTP(l net.Listener, root string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", connPage)
	mux.HandleFunc("/bytes/", bytesPage)
	mux.HandleFunc("/upload", s.uploadPage)
	mux.HandleFunc("/netstat", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		stack.WriteSockets(w, s.st.Sockets())
	})
	mux.HandleFunc("/stats", statsPage(s.st, s.pol))
	view := web.New(web.Config{Snapshot: s.st.Internals().Snapshot, Rings: func() *trace.Rings { return s.rings },
		TraceOff: traceOff, Self: requestConn})
	mux.Handle(web.Prefix, view) // the live view, for the peers too: it shows them their own connection
	if root != "" {
		mux.Handle("/files/", http.StripPrefix("/files/", http.FileServer(http.Dir(root))))
	}
	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: s.limits.readHeaderTimeout,
		ReadTimeout:       s.limits.readTimeout,
		WriteTimeout:      s.limits.writeTimeout,
		IdleTimeout:       s.limits.idleTimeout,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			for {
				u, ok := c.(interface{ Unwrap() net.Conn })
				if !ok {
					break
				}
				c = u.Unwrap() // the synack connection under serve's limits
			}
			return context.WithValue(ctx, connKey{}, c)
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				s.log.Info("open", "service", "http", "remote", c.RemoteAddr().String(), "local", c.LocalAddr().String())
			case http.StateClosed, http.StateHijacked:
				s.log.Info("closed", "service", "http", "remote", c.RemoteAddr().String())
			}
		},
	}
	s.http.RegisterOnShutdown(view.Close) // its event streams would hold Shutdown
	go s.http.Serve(s.limit(l))
}

// requestConn is the connection r came on, the stack's side first.
func requestConn(r *http.Request) (local, remote netip.AddrPort, ok bool) {
	c, _ := r.Context().Value(connKey{}).(*synack.TCPConn)
	if c == nil {
		return local, remote, false
	}
	i := c.Info()
	return i.Local, i.Remote, true
}

// connPage says which connection served the request.
func connPage(w http.ResponseWriter, r *http.Request) {
	c, _ := r.Context().Value(connKey{}).(*synack.TCPConn)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Hello from synack, a userspace TCP/IP stack.\n\n")
	if c == nil {
		return
	}
	i := c.Info()
	fmt.Fprintf(w, "This page came to you over the TCP connection\n")
	fmt.Fprintf(w, "  you (client)   %v\n", i.Remote)
	fmt.Fprintf(w, "  me (synack)    %v\n", i.Local)
	fmt.Fprintf(w, "  state          %v\n", i.State)
	fmt.Fprintf(w, "  segments       %d received, %d sent so far\n", i.SegsIn, i.SegsOut)
}

// seedBytes returns the n bytes /bytes/N?seed=S serves: block i (32 bytes)
// is SHA-256 of the text "S:i", so any client can check them, e.g. in Python:
// b"".join(hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in ...)[:n].
func seedBytes(w io.Writer, seed uint64, n int64) error {
	var buf [32 * 1024]byte
	var i uint64
	label := make([]byte, 0, 48)
	for n > 0 {
		k := 0
		for k+32 <= len(buf) && int64(k) < n {
			label = strconv.AppendUint(append(strconv.AppendUint(label[:0], seed, 10), ':'), i, 10)
			sum := sha256.Sum256(label)
			copy(buf[k:], sum[:])
			k += 32
			i++
		}
		m := min(int64(k), n)
		if _, err := w.Write(buf[:m]); err != nil {
			return err
		}
		n -= m
	}
	return nil
}

// bytesPage serves /bytes/N?seed=S.
func bytesPage(w http.ResponseWriter, r *http.Request) {
	ns := strings.TrimPrefix(r.URL.Path, "/bytes/")
	if ns == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "GET /bytes/N?seed=S returns N bytes: block i (32 bytes) is SHA-256 of the text \"S:i\", cut to N.")
		return
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil || n < 0 || n > 1<<40 {
		http.Error(w, fmt.Sprintf("/bytes/N: N must be a byte count from 0 to 2^40, not %q", ns), http.StatusBadRequest)
		return
	}
	seed := uint64(0)
	if s := r.URL.Query().Get("seed"); s != "" {
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			http.Error(w, fmt.Sprintf("seed must be an unsigned integer, not %q", s), http.StatusBadRequest)
			return
		}
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	seedBytes(w, seed, n)
}

// uploadPage reads the body and answers its length and SHA-256. An upload
// that fails (the client reset the connection, say) is logged.
func (s *server) uploadPage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		http.Error(w, "/upload takes POST or PUT with a body", http.StatusMethodNotAllowed)
		return
	}
	h := sha256.New()
	n, err := io.Copy(h, r.Body)
	if err != nil {
		s.log.Warn("upload failed", "service", "http", "remote", r.RemoteAddr, "bytes", n, "err", err)
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "%d %s\n", n, hex.EncodeToString(h.Sum(nil)))
}
