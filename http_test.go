package synack_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync/atomic"
	"testing"
)

// httpPair runs an http.Server on the server stack and returns a client
// whose Transport dials through the client stack, and a count of its dials.
func httpPair(t *testing.T, h http.Handler) (*http.Client, *atomic.Int64) {
	t.Helper()
	p := newPair(t, pairConfig{})
	l, err := p.server.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	dials := new(atomic.Int64)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return p.client.DialContext(ctx, network, addr)
		},
		DisableCompression: true,
	}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return &http.Client{Transport: tr}, dials
}

func httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello, %s", r.URL.Query().Get("name"))
	})
	mux.HandleFunc("POST /sha256", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
	})
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		io.Copy(w, seededReader(7, int64(n)))
	})
	return mux
}

// get fetches url and returns the body; reused says whether the request
// went over a kept-alive connection.
func get(t *testing.T, c *http.Client, url string) (body []byte, reused bool) {
	t.Helper()
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	})
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return body, reused
}

func TestHTTPGetPostKeepAlive(t *testing.T) {
	c, dials := httpPair(t, httpHandler())
	for i := range 5 {
		body, reused := get(t, c, fmt.Sprintf("http://10.0.0.2/hello?name=n%d", i))
		if want := fmt.Sprintf("hello, n%d", i); string(body) != want {
			t.Fatalf("GET body %q, want %q", body, want)
		}
		if reused != (i > 0) {
			t.Errorf("request %d: connection reused = %v", i, reused)
		}
	}
	for _, size := range []int64{0, 1, 100 << 10} {
		payload, _ := io.ReadAll(seededReader(uint64(size), size))
		resp, err := c.Post("http://10.0.0.2/sha256", "application/octet-stream", bytes.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%d %x", size, sha256.Sum256(payload)); string(body) != want {
			t.Fatalf("POST %d bytes: server saw %q, want %q", size, body, want)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d dials for sequential requests, want 1 (keep-alive)", n)
	}
}

func TestHTTPLargeResponse(t *testing.T) {
	c, _ := httpPair(t, httpHandler())
	const n = 1 << 20
	for range 2 {
		body, _ := get(t, c, fmt.Sprintf("http://10.0.0.2/big?n=%d", n))
		want, _, _ := sum(seededReader(7, n))
		if got, m, _ := sum(bytes.NewReader(body)); m != n || got != want {
			t.Fatalf("1 MiB response: %d bytes, SHA-256 %x; want %d bytes, %x", m, got, n, want)
		}
	}
}

func TestHTTPConcurrentClients(t *testing.T) {
	c, dials := httpPair(t, httpHandler())
	const k = 8
	errc := make(chan error, k)
	for i := range k {
		go func() {
			resp, err := c.Get(fmt.Sprintf("http://10.0.0.2/hello?name=c%d", i))
			if err != nil {
				errc <- err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err == nil && string(b) != fmt.Sprintf("hello, c%d", i) {
				err = fmt.Errorf("body %q", b)
			}
			errc <- err
		}()
	}
	for range k {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	if n := dials.Load(); n < 1 || n > k {
		t.Errorf("%d dials for %d concurrent requests", n, k)
	}
}
