package synack_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/synack-net/synack"
	"golang.org/x/net/dns/dnsmessage"
)

// dnsAnswer answers the query q with an A record for each name in zone
// (NXDOMAIN for others); truncated sets TC and leaves the answers out, as
// a server does when they do not fit in a UDP reply.
func dnsAnswer(q []byte, zone map[string]netip.Addr, truncated bool) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil, err
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 {
		return nil, errors.New("want one question")
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, Truncated: truncated}
	a, ok := zone[strings.ToLower(qs[0].Name.String())]
	if !ok {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	b.StartQuestions()
	b.Question(qs[0])
	b.StartAnswers()
	if ok && !truncated && qs[0].Type == dnsmessage.TypeA {
		b.AResource(dnsmessage.ResourceHeader{Name: qs[0].Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: a.As4()})
	}
	return b.Finish()
}

// serveDNS answers queries on st's UDP and TCP port 53 from zone until
// the test ends; names in tcpOnly are answered truncated over UDP, so the
// resolver must ask again over TCP (RFC 7766).
// It returns the count of queries answered over TCP.
func serveDNS(t *testing.T, st *synack.Stack, zone map[string]netip.Addr, tcpOnly map[string]bool) *atomic.Int64 {
	t.Helper()
	tcpQueries := new(atomic.Int64)
	pc := listenUDP(t, st, 53)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			p.Start(buf[:n])
			q, _ := p.Question()
			r, err := dnsAnswer(buf[:n], zone, tcpOnly[strings.ToLower(q.Name.String())])
			if err == nil {
				pc.WriteToUDPAddrPort(r, from)
			}
		}
	}()
	l, err := st.Listen("tcp", ":53")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for { // RFC 1035 §4.2.2: each message after a 2-byte length
					var n [2]byte
					if _, err := io.ReadFull(c, n[:]); err != nil {
						return
					}
					q := make([]byte, binary.BigEndian.Uint16(n[:]))
					if _, err := io.ReadFull(c, q); err != nil {
						return
					}
					tcpQueries.Add(1)
					r, err := dnsAnswer(q, zone, false)
					if err != nil {
						return
					}
					c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(r))), r...))
				}
			}()
		}
	}()
	return tcpQueries
}

// TestResolverUDPAndTCPFallback looks names up with Go's resolver dialed
// through synack: one answered over UDP, one whose UDP answer is
// truncated and that Go asks again over TCP, and one that does not exist.
func TestResolverUDPAndTCPFallback(t *testing.T) {
	p := newPair(t, pairConfig{})
	tcpQueries := serveDNS(t, p.server, map[string]netip.Addr{
		"web.test.": serverAddr.Addr(),
		"big.test.": netip.MustParseAddr("192.0.2.7"),
	}, map[string]bool{"big.test.": true})
	p.client.SetResolver(p.client.Resolver(serverAP(53)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, want := range map[string]string{"web.test": "10.0.0.2", "big.test": "192.0.2.7"} {
		addrs, err := p.client.LookupHost(ctx, name)
		if err != nil || len(addrs) != 1 || addrs[0] != want {
			t.Errorf("LookupHost(%q) = %v, %v; want %s", name, addrs, err, want)
		}
	}
	if tcpQueries.Load() == 0 {
		t.Error("no query came over TCP after the truncated answer")
	}
	_, err := p.client.LookupHost(ctx, "nowhere.test")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("LookupHost of a name that does not exist: %v, want a not-found DNSError", err)
	}
}

// TestHTTPGetByName fetches http://web.test/hello with an http.Client
// whose Transport dials through synack, the name resolved by Go's
// resolver over synack's UDP.
func TestHTTPGetByName(t *testing.T) {
	p := newPair(t, pairConfig{})
	serveDNS(t, p.server, map[string]netip.Addr{"web.test.": serverAddr.Addr()}, nil)
	l, err := p.server.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: httpHandler()}
	go srv.Serve(l)
	defer srv.Close()
	p.client.SetResolver(p.client.Resolver(serverAP(53)))
	tr := &http.Transport{DialContext: p.client.DialContext}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("http://web.test/hello?name=dns")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "hello, dns" {
		t.Fatalf("body %q, %v", body, err)
	}
}

// TestPingRoundTrip pings the server stack from the client stack: the
// reply comes back matched, and calls in parallel each get their own.
func TestPingRoundTrip(t *testing.T) {
	p := newPair(t, pairConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 8)
	for seq := range uint16(8) {
		go func() {
			_, err := p.client.Ping(ctx, serverAddr.Addr(), seq, []byte(strings.Repeat("p", int(seq)*100)))
			errc <- err
		}()
	}
	for range 8 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if n := p.server.Internals().Stats().ICMPOutEchoReps.Load(); n != 8 {
		t.Errorf("server sent %d echo replies, want 8", n)
	}
	if n := p.client.Internals().Stats().ICMPInEchoReps.Load(); n != 8 {
		t.Errorf("client received %d echo replies, want 8", n)
	}
	// No reply: the context ends the wait.
	short, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if _, err := p.client.Ping(short, netip.MustParseAddr("10.0.0.9"), 1, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ping of nobody: %v, want the context's deadline", err)
	}
}

// TestPingLargerThanMTU pings with 4,000 bytes of data over a 1,500-byte
// link, as `ping -s 4000` does: the request leaves in fragments, the
// server reassembles it and answers in fragments too, and the reply's data
// is checked by Ping. Over 65,535 bytes is EMSGSIZE.
func TestPingLargerThanMTU(t *testing.T) {
	p := newPair(t, pairConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	data := []byte(strings.Repeat("0123456789", 400))
	if _, err := p.client.Ping(ctx, serverAddr.Addr(), 1, data); err != nil {
		t.Fatalf("Ping with 4,000 bytes: %v", err)
	}
	cs, ss := p.client.Internals().Stats(), p.server.Internals().Stats()
	// The server counts its reply once the last fragment is written, which
	// is when Ping may already have it: wait for the count, not a time.
	waitFor(t, "the server to count its reply", func() bool { return ss.ICMPOutEchoReps.Load() >= 1 })
	if cs.FragOKs.Load() != 1 || ss.ReasmOKs.Load() != 1 || ss.FragOKs.Load() != 1 || cs.ReasmOKs.Load() != 1 {
		t.Errorf("FragOKs client %d server %d, ReasmOKs server %d client %d; want 1 each",
			cs.FragOKs.Load(), ss.FragOKs.Load(), ss.ReasmOKs.Load(), cs.ReasmOKs.Load())
	}
	if n := ss.ICMPOutEchoReps.Load(); n != 1 {
		t.Errorf("server sent %d echo replies, want 1", n)
	}
	if _, err := p.client.Ping(ctx, serverAddr.Addr(), 2, make([]byte, 65535-28+1)); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("Ping with 65,508 bytes: %v, want EMSGSIZE", err)
	}
}
