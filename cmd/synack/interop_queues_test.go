//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synack-net/synack/link/tun/tuntest"
)

// TestServeTunQueues32Conns: synack serve on a TUN device with two queues
// (--tun-queues 2), whose two readers deliver into the stack at once; the
// kernel opens 32 TCP connections together, and on each downloads 512 KiB
// and then uploads 256 KiB, both checked by SHA-256. Both queues carried
// packets both ways (serve's closing log counts them per queue, and so
// does the admin endpoint's /metrics, a series per queue that add up to
// the device's totals), and serve ends cleanly with no data race (the
// binary is built with -race when the test is).
func TestServeTunQueues32Conns(t *testing.T) {
	const conns, down, up = 32, 512 << 10, 256 << 10
	const admin = "127.0.0.1:7072"
	ns := tuntest.Namespace(t)
	s := startServe(t, ns, "--tun-queues", "2", "--admin", admin)
	if !strings.Contains(s.stderr.String(), "queues=2") {
		t.Fatalf("serve does not report two queues:\n%s", s.stderr.String())
	}
	cs := dialIn(t, ns, conns, serveAddr+":80")

	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i, c := range cs {
		wg.Go(func() {
			if err := downUp(c, uint64(i), down, up); err != nil {
				errs <- fmt.Errorf("connection %d (%v): %w", i, c.LocalAddr(), err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, c := range cs {
		c.Close()
	}
	queueMetricsAddUp(t, mustRunIn(t, ns, 20*time.Second, "curl", "-sS", "--fail", "http://"+admin+"/metrics"), 2)
	l := deviceLog(t, s.stop(t))
	t.Logf("device: %v", l)
	for _, k := range []string{"in-queue-0", "in-queue-1", "out-queue-0", "out-queue-1"} {
		if l[k] == 0 {
			t.Errorf("%s = 0: want both queues used both ways", k)
		}
	}
	if l["in-queue-0"]+l["in-queue-1"] != l["in-packets"] || l["out-queue-0"]+l["out-queue-1"] != l["out-packets"] {
		t.Errorf("the queues' counts do not add up to the totals: %v", l)
	}
}

// queueMetricsAddUp checks /metrics (body) of a device with n queues:
// synack_LinkTun_QueueDelivered and _QueueWritten have one series per
// queue, labelled queue="0" to n-1, each above zero, adding up to
// synack_LinkTun_InPackets and _OutPackets (one scrape reads the device
// once, so the sums are exact).
func queueMetricsAddUp(t *testing.T, body string, n int) {
	t.Helper()
	mfs := parseMetrics(t, []byte(body))
	for _, pair := range [][2]string{{"QueueDelivered", "InPackets"}, {"QueueWritten", "OutPackets"}} {
		per := queueSeries(t, mfs, "synack_LinkTun_"+pair[0])
		total, ok := promValue(mfs, "synack_LinkTun_"+pair[1])
		sum := 0.0
		for q := range n {
			v, ok := per[fmt.Sprint(q)]
			if !ok || v == 0 {
				t.Errorf("synack_LinkTun_%s{queue=\"%d\"} = %v (present: %v): want every queue used", pair[0], q, v, ok)
			}
			sum += v
		}
		t.Logf("synack_LinkTun_%s %v, %s %v", pair[0], per, pair[1], total)
		if len(per) != n || !ok || sum != total {
			t.Errorf("synack_LinkTun_%s = %v: want %d series adding up to synack_LinkTun_%s = %v", pair[0], per, n, pair[1], total)
		}
	}
}

// dialIn opens n TCP connections to addr from inside ns (the sockets stay
// in the namespace for use from any goroutine) and closes them at cleanup.
func dialIn(t *testing.T, ns *tuntest.NS, n int, addr string) []net.Conn {
	t.Helper()
	var cs []net.Conn
	t.Cleanup(func() {
		for _, c := range cs {
			c.Close()
		}
	})
	ns.Do(t, func() error {
		for range n {
			c, err := net.DialTimeout("tcp4", addr, 10*time.Second)
			if err != nil {
				return err
			}
			cs = append(cs, c)
		}
		return nil
	})
	return cs
}

// downUp fetches /bytes/down?seed=seed on c and checks its length and
// SHA-256, then POSTs up pattern bytes to /upload on the same connection
// and checks the server's count and SHA-256.
func downUp(c net.Conn, seed uint64, down, up int64) error {
	if err := c.SetDeadline(time.Now().Add(60 * time.Second)); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/bytes/%d?seed=%d", serveAddr, down, seed), nil)
	if err := req.Write(c); err != nil {
		return err
	}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fmt.Errorf("GET: %w", err)
	}
	hw := newHashWriter()
	_, err = io.Copy(hw, resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("GET body: %w after %d bytes", err, hw.n)
	}
	if hw.n != down || hw.sum() != seedSum(seed, down) {
		return fmt.Errorf("GET: %d bytes, sha256 %s; want %d, %s", hw.n, hw.sum(), down, seedSum(seed, down))
	}

	r := &patternReader{n: up, h: newHashWriter()}
	req, _ = http.NewRequest("POST", "http://"+serveAddr+"/upload", r)
	req.ContentLength = up
	if err := req.Write(c); err != nil {
		return fmt.Errorf("POST: %w", err)
	}
	resp, err = http.ReadResponse(br, req)
	if err != nil {
		return fmt.Errorf("POST: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("POST answer: %w", err)
	}
	if want := fmt.Sprintf("%d %s\n", up, r.h.sum()); string(body) != want {
		return fmt.Errorf("POST /upload answered %q, want %q", body, want)
	}
	return nil
}
