// Package tuntest gives tests a private Linux network namespace holding a
// TUN device, so that the kernel can be the stack's peer without touching
// the host's own interfaces or routes. Tests that use it skip, saying why,
// when not run as root or when /dev/net/tun is missing. It works on Linux
// only; elsewhere Namespace skips the test.
//
// A typical test:
//
//	ns := tuntest.Namespace(t)
//	dev := ns.OpenTUN(t, "", tun.Config{HostAddr: netip.MustParsePrefix("10.7.0.1/24")})
//	dev.Attach(dispatcher)
//	out := ns.Run(t, "ip", "addr", "show", "dev", dev.Name())
//
// Everything made is removed in t.Cleanup, also when the test fails.
package tuntest
