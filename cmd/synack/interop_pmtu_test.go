//go:build linux

package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack/link/tun/tuntest"
)

// The client's side of the path MTU test: a namespace behind the kernel
// router that holds synack's TUN device.
const (
	pmtuRouterAddr = "10.9.0.1" // the router's end of the veth pair
	pmtuClientAddr = "10.9.0.2" // the client's end
)

var statLine = regexp.MustCompile(`(?m)^Ip: (\w+) (\d+)$`)

// ipStats reads synack's stack counters from serve's /stats page.
func ipStats(t *testing.T, ns *tuntest.NS) map[string]uint64 {
	t.Helper()
	out := mustRunIn(t, ns, 20*time.Second, "curl", "-sS", "--fail", "http://"+serveAddr+"/stats")
	m := map[string]uint64{}
	for _, f := range statLine.FindAllStringSubmatch(out, -1) {
		m[f[1]], _ = strconv.ParseUint(f[2], 10, 64)
	}
	return m
}

// TestServePathMTUDiscovery: three hosts, synack serving on a TUN device
// in a kernel router's namespace, and a client namespace behind the router
// on a veth pair. Every link's MTU is 1500 (the client's MSS is 1460), but
// the router's route to the client has MTU 1280, so the router drops
// synack's full-sized segments, which carry DF, and answers "fragmentation
// needed" (RFC 1191). curl's 20 MB download from synack completes with the
// right SHA-256, and synack's counters show the MTU learned, with the TUN
// offloads on (64 KB segments the router must refuse whole) and off.
func TestServePathMTUDiscovery(t *testing.T) {
	for _, offload := range []bool{true, false} {
		t.Run(fmt.Sprintf("tun-offload=%v", offload), func(t *testing.T) {
			router := tuntest.Namespace(t)
			client := tuntest.Namespace(t)
			requireTools(t, "curl", "sysctl")
			vr, vc := tunName(), tunName()
			router.Run(t, "ip", "link", "add", vr, "type", "veth", "peer", "name", vc, "netns", client.Name)
			router.Run(t, "ip", "addr", "add", pmtuRouterAddr+"/24", "dev", vr)
			router.Run(t, "ip", "link", "set", vr, "up")
			client.Run(t, "ip", "addr", "add", pmtuClientAddr+"/24", "dev", vc)
			client.Run(t, "ip", "link", "set", vc, "up")
			client.Run(t, "ip", "route", "add", "default", "via", pmtuRouterAddr)
			router.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
			// The small hop: forwarded packets to the client over 1280
			// bytes with DF are refused with "fragmentation needed".
			router.Run(t, "ip", "route", "add", pmtuClientAddr+"/32", "dev", vr, "mtu", "1280")

			s := startServe(t, router, fmt.Sprintf("--tun-offload=%v", offload))
			if err := curlBytes(t, client, 15, 20_000_000); err != nil {
				t.Fatal(err)
			}
			st := ipStats(t, router)
			if st["PMTUUpdates"] == 0 || st["PMTUMSSLowered"] == 0 {
				t.Errorf("PMTUUpdates %d, PMTUMSSLowered %d: synack learned no path MTU", st["PMTUUpdates"], st["PMTUMSSLowered"])
			}
			if st["ICMPInDestUnreachs"] == 0 {
				t.Error("ICMPInDestUnreachs is 0: the router sent no fragmentation needed")
			}
			var bad []string
			for _, k := range []string{"ICMPInErrorsBadQuote", "ICMPInErrorsOutOfWindow", "ICMPInErrorsBadCode", "PMTUClamped"} {
				if st[k] != 0 {
					bad = append(bad, fmt.Sprintf("%s=%d", k, st[k]))
				}
			}
			if len(bad) > 0 {
				t.Errorf("the router's ICMPs counted as bad: %s", strings.Join(bad, " "))
			}
			t.Logf("synack's ICMP and PMTU counters: DestUnreachs=%d PMTUUpdates=%d PMTUIgnored=%d PMTUMSSLowered=%d NoSocket=%d",
				st["ICMPInDestUnreachs"], st["PMTUUpdates"], st["PMTUIgnored"], st["PMTUMSSLowered"], st["ICMPInErrorsNoSocket"])
			s.stop(t)
		})
	}
}
