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
	if err := rig.Run("long-conn", nil, &out, nil, run); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestLongConnOneHandshake: every line goes on one connection: one
// handshake and one close (four segments sent: SYN, ACK, FIN, ACK) and
// one segment per message, against short-conn's five.
func TestLongConnOneHandshake(t *testing.T) {
	got := runWith(t, "one\ntwo\nthree\n")
	want := "请输入要发送的内容:one\n" +
		"请输入要发送的内容:two\n" +
		"请输入要发送的内容:three\n" +
		"请输入要发送的内容:\n" +
		"long connection: messages 3, three-way handshakes 1, segments sent 7, received 7\n" +
		"peer: echo server on 10.7.0.1:9999: served 1 connections, echoed 11 bytes\n"
	if got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	got = runWith(t, "a\nb\nc\nd\ne\nf\n")
	if want := "long connection: messages 6, three-way handshakes 1, segments sent 10, received 10\n"; !strings.Contains(got, want) {
		t.Errorf("six messages: output:\n%s\nwant a line %q", got, want)
	}
}
