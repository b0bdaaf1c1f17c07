package main

import (
	"io"
	"testing"

	"github.com/synack-net/synack/examples/internal/rig/rigtest"
)

// clientPy is article 004's client as the kernel's side runs it: Python's
// socket module, in Python 3 (bytes to send, print as a function), the
// address synack's.
const clientPy = `import socket

address = ('10.7.0.2', 8000)
# 创建 tcp socket
client = socket.socket(family=socket.AF_INET, type=socket.SOCK_STREAM)
# 发起连接
client.connect(address)
# 发送数据
client.send(b'hello-world')
# 接受数据
data = client.recv(1024)
print(data.decode())
# 关闭连接
client.close()
`

// TestKernelClientEchoServer runs the example over TUN and article 004's
// client, twice, in the kernel's Python: each run prints its echo, and the
// server, having served both, ends.
func TestKernelClientEchoServer(t *testing.T) {
	l, ns := rigtest.Kernel(t)
	conns = 2
	t.Cleanup(func() { conns = 0 })
	done := make(chan error, 1)
	go func() { done <- serve(l, io.Discard) }()
	select {
	case <-l.Serving():
	case err := <-done:
		t.Fatalf("the server ended before it listened: %v", err)
	}
	for range 2 {
		if got := rigtest.Run(t, ns, clientPy); got != "hello-world\n" {
			t.Errorf("python client printed %q, want %q", got, "hello-world\n")
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
