package synack_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/netip"

	"github.com/synack-net/synack"
	"github.com/synack-net/synack/link/pipe"
)

// Example is the README's program (readme_test.go checks that they are the
// same code): two stacks joined in memory, Go's net/http serving on one
// and fetching from it through the other.
func Example() {
	// Two stacks joined by an in-memory link: no root, no network.
	// Any link.Endpoint will do, such as link/tun's Device.
	a, b := pipe.New(1500)
	client, err := synack.New(a, synack.Config{Addr: netip.MustParsePrefix("10.0.0.1/24")})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	server, err := synack.New(b, synack.Config{Addr: netip.MustParsePrefix("10.0.0.2/24")})
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()

	// The server: Go's net/http on a synack listener.
	l, err := server.ListenTCP(netip.MustParseAddrPort("0.0.0.0:80"), 128)
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello over synack")
	}))

	// The client: Go's net/http, dialing through synack.
	hc := &http.Client{Transport: &http.Transport{DialContext: client.DialContext}}
	resp, err := hc.Get("http://10.0.0.2/")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(resp.Status, ": ", string(body))
	// Output: 200 OK: hello over synack
}
