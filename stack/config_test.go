package stack

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/synack-net/synack/link/pipe"
	"github.com/synack-net/synack/tcp"
)

// TestNewRefusesNonsense: each configuration that makes no sense is an
// error from New that names the field and says what is wrong, never a
// silent default or a panic; every wrong field of one configuration is
// reported at once.
func TestNewRefusesNonsense(t *testing.T) {
	good := netip.MustParsePrefix("10.0.0.1/24")
	for _, tc := range []struct {
		name  string
		cfg   Config
		mtu   int
		field string
		says  string
	}{
		{"no address", Config{}, 1500, "Addr", "IPv4 address"},
		{"IPv6 address", Config{Addr: netip.MustParsePrefix("fd00::1/64")}, 1500, "Addr", "IPv4 address"},
		{"unspecified", Config{Addr: netip.MustParsePrefix("0.0.0.0/24")}, 1500, "Addr", "unspecified"},
		{"multicast", Config{Addr: netip.MustParsePrefix("224.0.0.5/24")}, 1500, "Addr", "multicast"},
		{"loopback", Config{Addr: netip.MustParsePrefix("127.0.0.1/8")}, 1500, "Addr", "loopback"},
		{"directed broadcast", Config{Addr: netip.MustParsePrefix("10.0.0.255/24")}, 1500, "Addr", "broadcast"},
		{"gateway off the link", Config{Addr: good, Gateway: netip.MustParseAddr("10.9.9.9")}, 1500, "Gateway", "prefix"},
		{"MTU below 68", Config{Addr: good}, 60, "endpoint", "68"},
		{"MSS above the MTU", Config{Addr: good, TCP: tcp.Config{MSS: 1461}}, 1500, "TCP.MSS", "MTU 1500"},
		{"MSS below 88", Config{Addr: good, TCP: tcp.Config{MSS: 87}}, 1500, "TCP.MSS", "at least 88"},
		{"negative MSS", Config{Addr: good, TCP: tcp.Config{MSS: -1}}, 1500, "TCP.MSS", "at least 88"},
		{"negative buffer", Config{Addr: good, TCP: tcp.Config{SendBufferSize: -5}}, 1500, "TCP.SendBufferSize", "negative"},
		{"buffer above its cap", Config{Addr: good, TCP: tcp.Config{ReceiveBufferSize: 2 << 20, MaxReceiveBufferSize: 1 << 20}}, 1500, "TCP.ReceiveBufferSize", "above MaxReceiveBufferSize"},
		{"negative retries", Config{Addr: good, TCP: tcp.Config{Retries: -1}}, 1500, "TCP.Retries", "negative"},
		{"negative MSL", Config{Addr: good, TCP: tcp.Config{MSL: -time.Second}}, 1500, "TCP.MSL", "negative"},
		{"MinRTO above MaxRTO", Config{Addr: good, TCP: tcp.Config{MinRTO: 3 * time.Second, MaxRTO: time.Second}}, 1500, "TCP.MinRTO", "above MaxRTO"},
		{"MinRTO above the default MaxRTO", Config{Addr: good, TCP: tcp.Config{MinRTO: 10 * time.Minute}}, 1500, "TCP.MinRTO", "above MaxRTO 2m0s"},
		{"unknown SYN cookie mode", Config{Addr: good, TCP: tcp.Config{SYNCookies: 7}}, 1500, "TCP.SYNCookies", "not a SYNCookieMode"},
		{"negative MaxConnections", Config{Addr: good, MaxConnections: -1}, 1500, "MaxConnections", "negative"},
		{"negative MaxTimeWait", Config{Addr: good, MaxTimeWait: -1}, 1500, "MaxTimeWait", "negative"},
		{"negative Shards", Config{Addr: good, Shards: -1}, 1500, "Shards", "0 (the default) to 4096"},
		{"too many Shards", Config{Addr: good, Shards: 5000}, 1500, "Shards", "0 (the default) to 4096"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pipe.New(tc.mtu)
			defer a.Close()
			defer b.Close()
			s, err := New(a, tc.cfg)
			if err == nil {
				s.Close()
				t.Fatalf("New(%+v) = a stack, want an error about %s", tc.cfg, tc.field)
			}
			var ce *tcp.ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("New: %v; want a *tcp.ConfigError for %s saying %q", err, tc.field, tc.says)
			}
		})
	}
	t.Run("all wrong fields at once", func(t *testing.T) {
		a, _ := pipe.New(1500)
		defer a.Close()
		_, err := New(a, Config{Addr: good, MaxConnections: -1, TCP: tcp.Config{MSS: 10, Retries: -2}})
		for _, f := range []string{"MaxConnections", "TCP.MSS", "TCP.Retries"} {
			if err == nil || !strings.Contains(err.Error(), "synack config: "+f+" ") {
				t.Errorf("New: %v; want it to name %s", err, f)
			}
		}
	})
	t.Run("nil endpoint", func(t *testing.T) {
		var ce *tcp.ConfigError
		if _, err := New(nil, Config{Addr: good}); !errors.As(err, &ce) || ce.Field != "endpoint" {
			t.Fatalf("New(nil) = %v, want a *tcp.ConfigError for the endpoint", err)
		}
	})
}

// TestNewRefusesAnEndpointTwice: a second stack on an endpoint a live
// stack holds would take its packets; New says so, and the endpoint is
// free again once the first stack is closed.
func TestNewRefusesAnEndpointTwice(t *testing.T) {
	a, b := pipe.New(1500)
	defer a.Close()
	defer b.Close()
	cfg := Config{Addr: netip.MustParsePrefix("10.0.0.1/24")}
	first, err := New(a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ce *tcp.ConfigError
	if s, err := New(a, cfg); !errors.As(err, &ce) || ce.Field != "endpoint" || !strings.Contains(err.Error(), "another stack") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("second New on one endpoint: %v, want a *tcp.ConfigError saying another stack holds it", err)
	}
	first.Close()
	again, err := New(a, cfg)
	if err != nil {
		t.Fatalf("New after the first stack closed: %v", err)
	}
	again.Close()
}
