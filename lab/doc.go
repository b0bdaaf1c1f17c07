// Package lab runs the experiments of the articles behind synack as named,
// scripted scenarios: two synack stacks in one process, a client at
// 10.0.0.1 and a server at 10.0.0.2, joined by an in-memory link on a
// virtual clock. Each scenario prints the sequence diagram of the
// connection it is about, with both sides' states down each side, what the
// application saw (the outcome) and a paragraph saying what happened and
// why, with the RFC section it follows. `synack lab` is its command.
//
// It is a layer above the stack: it runs stacks through the root package's
// API (Dial, Listen, Read, Write, Close, their options, Info, Sockets and
// the counters Internals shows) and knows of them nothing but that API and
// the trace events they report. Its link,
// the cable (cable.go), is a test bench and so may look at headers: it
// routes packets by destination address (a spoofed source's answers go
// nowhere), drops the segments a scenario chooses, and injects segments a
// scenario makes (an old duplicate SYN, a flood of SYNs).
//
// # Determinism
//
// A scenario's application steps run in order from the scenario's own
// goroutine, and so does every delivery: the cable queues what the stacks
// write and hands it over, oldest first, only when the scenario settles the
// link. A dial, which blocks, runs on a goroutine of its own, and the
// scenario waits for its SYN to reach the link before going on. The clock
// moves only when the link is empty, to the next timer. With link/fault on
// the client's end (--loss, --delay) its decisions come from the seed, which
// also picks the client's port; sequence numbers are printed relative to
// each side's initial sequence number, as Wireshark does, since the initial
// numbers themselves are random (RFC 6528). So a scenario run twice with
// the same options prints the same bytes.
//
// # Golden files
//
// lab_test.go runs every scenario at its defaults and compares the output
// with testdata/NAME.golden. After a change that alters the output on
// purpose, rewrite them and read the difference:
//
//	go test ./lab -run TestGolden -update
//	git diff lab/testdata
package lab
