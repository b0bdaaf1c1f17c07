package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/synack-net/synack/examples/internal/rig"
)

func runWith(t *testing.T, input string) string {
	t.Helper()
	stdin = strings.NewReader(input)
	var out bytes.Buffer
	if err := rig.Run("short-conn", nil, &out, nil, run); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestShortConnOneHandshakePerMessage: each line goes on a connection of
// its own; every connection costs five segments each way (SYN, ACK,
// text, FIN, ACK of the server's FIN; the server as many), so the cost
// grows by a handshake and five segments per message.
func TestShortConnOneHandshakePerMessage(t *testing.T) {
	got := runWith(t, "one\ntwo\nthree\n")
	want := "请输入要发送的内容:one\n" +
		"请输入要发送的内容:two\n" +
		"请输入要发送的内容:three\n" +
		"请输入要发送的内容:\n" +
		"short connections: messages 3, three-way handshakes 3, segments sent 15, received 15\n" +
		"peer: echo server on 10.7.0.1:9999: served 3 connections, echoed 11 bytes\n"
	if got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	got = runWith(t, "a\nb\nc\nd\ne\nf\n")
	if want := "short connections: messages 6, three-way handshakes 6, segments sent 30, received 30\n"; !strings.Contains(got, want) {
		t.Errorf("six messages: output:\n%s\nwant a line %q", got, want)
	}
}
