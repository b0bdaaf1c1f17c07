package main

import (
	"bytes"
	"testing"

	"github.com/synack-net/synack/examples/internal/rig/rigtest"
)

// serverPy is article 004's echo server as the kernel's side runs it, in
// Python 3, at the kernel's address of the TUN device. Test-only
// additions: it says "ready" once it listens, and ends after one
// connection instead of looping forever.
const serverPy = `import socket

address = ('10.7.0.1', 8000)
# 创建 tcp socket
server = socket.socket(family=socket.AF_INET, type=socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
# 绑定地址
server.bind(address)
# 监听
server.listen(5)
print('ready', flush=True)

for _ in range(1):
    # 获取连接
    conn, addr = server.accept()
    while True:
        # 读取数据
        data = conn.recv(1024)
        # 发送数据给客户端
        conn.sendall(data)
        if not data:
            # 关闭连接
            conn.close()
            break
    print('echoed for', addr[0])
# 关闭socket
server.close()
`

// TestKernelServerEchoClient runs article 004's server in the kernel's
// Python and the example over TUN against it: the example prints the
// echo, as the article's client does, and the server saw it come from
// synack's address and close.
func TestKernelServerEchoClient(t *testing.T) {
	l, ns := rigtest.Kernel(t)
	output := rigtest.Start(t, ns, serverPy)
	var out bytes.Buffer
	if err := run(l, &out); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "hello-world\n" {
		t.Errorf("example printed %q, want %q", got, "hello-world\n")
	}
	if got := output(); got != "echoed for 10.7.0.2\n" {
		t.Errorf("python server printed %q, want %q", got, "echoed for 10.7.0.2\n")
	}
}
