package fault_test

import (
	"fmt"
	"time"

	"github.com/synack-net/synack/clock"
	"github.com/synack-net/synack/link/fault"
)

// A packet written to the Endpoint reaches the inner endpoint after the
// bottleneck's transmission time and the delay, when the virtual clock
// gets there.
func ExampleNew() {
	clk := clock.NewVirtual(epoch)
	inner := &fakeLink{clk: clk} // any link.Endpoint, such as a pipe end
	out, err := fault.ParseDirection("delay 10ms rate 8kbit")
	if err != nil {
		panic(err)
	}
	e := fault.New(inner, fault.Config{Clock: clk, Seed: 1, Out: out})
	defer e.Close()
	fmt.Println("out:", out)

	e.WritePacket([]byte("hello")) // 40 bits at 8 kbit/s: 5 ms
	fmt.Println("at once:", len(inner.Sent()), "packets")
	clk.Advance(time.Second)
	for _, a := range inner.Sent() {
		fmt.Printf("after %v: %q\n", a.at.Sub(epoch), a.pkt)
	}
	// Output:
	// out: delay 10ms rate 8kbit
	// at once: 0 packets
	// after 15ms: "hello"
}
