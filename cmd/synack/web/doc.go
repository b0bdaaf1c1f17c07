// Package web is synack's live web view: a page, its style and a small
// script, embedded with go:embed, and the HTTP handlers that feed them.
// serve mounts it at /tcp/ both on its admin endpoint (the host side) and
// on its own HTTP service on port 80, so that a browser reaching synack
// through the TUN device sees the handshake of the very connection that
// fetched the page.
//
// Layer: observability, above the stack, beside the admin endpoint. It
// reads the stack only through what it is handed: a func returning
// stack.Snapshot, the per-connection trace.Rings and the lab's
// recordings. It must not know the TCP engine (no tcp.Conn, no stack
// locks), must not start stacks other than the lab's, and the page must
// fetch nothing from outside (no CDN, no build step: plain HTML, CSS and
// JavaScript as they are in assets/).
//
// What it serves under its prefix:
//
//	/tcp/                  the page
//	/tcp/static/...        its script and style
//	/tcp/events            server-sent events: the socket table and the
//	                       count per state, once every Config.Interval
//	/tcp/trace?conn=L-R    one connection's trace as JSON, relative numbers
//	/tcp/history?conn=L-R  cwnd, bytes in flight and SRTT sampled over time
//	/tcp/lab/              the lab's scenarios; /tcp/lab/NAME?seed=S one run
//
// Its bounds, all a peer can make it keep: at most MaxStreams event
// streams at once (more get 503); the history keeps HistorySamples
// samples of each of at most HistoryConns connections (the least recently
// sampled goes first), sampled only while a stream is open, at most once
// per Interval/2 of the stack's clock per connection (48 bytes a sample:
// 3.7 MB at worst); lab runs take one at a time, and the runs at the
// default seed are cached (one per scenario).
package web
