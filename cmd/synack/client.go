package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"time"
	"unicode/utf8"
)

const getAbout = `get fetches URL over HTTP with synack as the client on a Linux TUN device, so
the kernel (or anything the host routes to) is the server. It prints the
status line, then the body when it is short text, else its size and SHA-256.
The host is an IPv4 address, or a name that Go's resolver, running over
synack, looks up by asking the DNS server given with --dns. Needs root.

  sudo synack get --tun synack0 http://10.7.0.1:8000/`

func runGet(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("get URL", getAbout+"\n\n"+faultAbout, stderr)
	var tf tunFlags
	tf.register(fs)
	sum := fs.Bool("sum", false, "print the body's size and SHA-256 even when it is short text")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	dns := fs.String("dns", "", "resolve a host name in the URL with Go's resolver over synack, asking this DNS server (ip:port)")
	if err := wantArgs(fs, args, 1, "one URL"); err != nil {
		return err
	}
	u, err := url.Parse(fs.Arg(0))
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("%q is not an http:// URL", fs.Arg(0))
	}
	var server netip.AddrPort
	if *dns != "" {
		if server, err = netip.ParseAddrPort(*dns); err != nil || !server.Addr().Is4() {
			return fmt.Errorf("--dns %q is not an IPv4 ip:port, such as 10.7.0.1:53", *dns)
		}
	} else if _, err := netip.ParseAddr(u.Hostname()); err != nil {
		return fmt.Errorf("host %q in the URL is not an IPv4 address (give a DNS server with --dns to resolve names)", u.Hostname())
	}
	tf.notes = stderr
	ts, err := tf.open("get", nil)
	if err != nil {
		return err
	}
	if server.IsValid() {
		ts.st.SetResolver(ts.st.Resolver(server)) // Go's resolver, over synack's UDP (and TCP)
	}
	defer ts.closeAndSay(stderr, "get")
	defer finishCloses(ts) // after the body and the connection are closed
	tr := &http.Transport{DialContext: ts.st.DialContext, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: *timeout}
	resp, err := hc.Get(u.String())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	fmt.Fprintf(stdout, "%s %s\n", resp.Proto, resp.Status)
	h := sha256.New()
	var head []byte
	n, err := io.Copy(io.MultiWriter(h, &capWriter{b: &head, limit: 64 << 10}), resp.Body)
	if err != nil {
		return fmt.Errorf("reading the body after %d bytes: %w", n, err)
	}
	if !*sum && n == int64(len(head)) && utf8.Valid(head) {
		stdout.Write(head)
		return nil
	}
	fmt.Fprintf(stdout, "%d bytes sha256=%s\n", n, hex.EncodeToString(h.Sum(nil)))
	return nil
}

// capWriter keeps the first limit bytes written.
type capWriter struct {
	b     *[]byte
	limit int
}

func (w *capWriter) Write(p []byte) (int, error) {
	if room := w.limit - len(*w.b); room > 0 {
		*w.b = append(*w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// finishCloses waits, at most 2 s, until no connection of ts is still
// closing, so that each close handshake ends before the device goes away:
// a FIN written just before the device is deleted can be lost with it,
// leaving the peer in FIN-WAIT-2, and the stack's Close resets what is
// still open or closing.
func finishCloses(ts *tunStack) {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && closingConns(ts) {
		time.Sleep(10 * time.Millisecond)
	}
}
