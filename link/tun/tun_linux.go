//go:build linux

package tun

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"github.com/synack-net/synack/link"
	"golang.org/x/sys/unix"
)

// cloneDevice is the TUN clone device: each open of it yields a descriptor
// that TUNSETIFF binds to one interface.
const cloneDevice = "/dev/net/tun"

// Open opens /dev/net/tun and binds the descriptor to the TUN device name,
// creating it if it does not exist (a name of "" or with a %d, such as
// "synack%d", lets the kernel choose; Device.Name reports the result). It
// then sets the MTU, gives the kernel's side the address cfg.HostAddr if
// that is set, and brings the link up. It needs CAP_NET_ADMIN.
//
// The device lives in the network namespace of the calling OS thread. It
// is configured with ioctls (SIOCSIFMTU, SIOCSIFADDR, SIOCSIFNETMASK,
// SIOCSIFFLAGS), like ifconfig: HostAddr becomes the device's primary
// address, replacing a different primary address if the device had one.
//
// Errors say what to do and wrap the underlying error, so errors.Is matches
// the errno (unix.EPERM, unix.EBUSY, ...) or fs.ErrNotExist when the clone
// device is missing.
func Open(name string, cfg Config) (*Device, error) {
	mtu := cfg.MTU
	if mtu == 0 {
		mtu = DefaultMTU
	}
	if mtu < minMTU || mtu > maxMTU {
		return nil, fmt.Errorf("tun: MTU %d out of range %d..%d: %w", mtu, minMTU, maxMTU, unix.EINVAL)
	}
	if cfg.HostAddr.IsValid() && !cfg.HostAddr.Addr().Is4() {
		return nil, fmt.Errorf("tun: host address %v is not IPv4: %w", cfg.HostAddr, unix.EINVAL)
	}
	if cfg.Queues < 0 || cfg.Queues > MaxQueues {
		return nil, fmt.Errorf("tun: %d queues out of range 0..%d (0 or 1: one queue): %w", cfg.Queues, MaxQueues, unix.EINVAL)
	}
	if _, err := unix.NewIfreq(name); err != nil {
		return nil, fmt.Errorf("tun: interface name %q too long: %d bytes, at most %d: %w",
			name, len(name), unix.IFNAMSIZ-1, err)
	}
	n := max(cfg.Queues, 1)
	fds := make([]int, 0, n)
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	for i := range n {
		// The first queue gets the kernel's name for a pattern; the
		// others bind to that name.
		fd, got, err := openQueue(name, i, n, !cfg.NoOffload)
		if err != nil {
			closeAll()
			return nil, err
		}
		fds, name = append(fds, fd), got
	}
	var offloads Offloads
	if !cfg.NoOffload {
		offloads = probeOffloads(fds[0]) // the kernel keeps them per device
	}
	if err := configure(name, mtu, cfg); err != nil {
		closeAll()
		return nil, err
	}
	// The descriptors are non-blocking, so os.NewFile registers them with
	// the runtime poller: reads park the goroutine, not a thread, and
	// Close wakes a pending read.
	files := make([]*os.File, n)
	for i, fd := range fds {
		files[i] = os.NewFile(uintptr(fd), cloneDevice)
	}
	return newDevice(files, name, mtu, cfg.OnError, !cfg.NoOffload, offloads), nil
}

// openQueue opens /dev/net/tun and binds the descriptor to the device
// name as queue i of n (IFF_MULTI_QUEUE when n > 1), with virtio-net
// headers if vnet. It returns the descriptor and the device's name.
func openQueue(name string, i, n int, vnet bool) (int, string, error) {
	fd, err := unix.Open(cloneDevice, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return -1, "", openError(name, &fs.PathError{Op: "open", Path: cloneDevice, Err: err})
	}
	flags := uint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if vnet {
		flags |= unix.IFF_VNET_HDR
	}
	if n > 1 {
		flags |= unix.IFF_MULTI_QUEUE
	}
	ifr, _ := unix.NewIfreq(name) // checked by Open
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		err = os.NewSyscallError("ioctl TUNSETIFF", err)
		if i > 0 {
			return -1, "", queueError(name, i, n, err)
		}
		return -1, "", setIffError(name, n, err)
	}
	name = ifr.Name()
	if vnet {
		// A persistent device may keep a header size set by another
		// user: ours is the 10-byte legacy header. The kernel keeps
		// it per device; setting it on every queue costs nothing.
		if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, vnetHdrLen); err != nil {
			unix.Close(fd)
			return -1, "", fmt.Errorf("tun: setting the virtio-net header size of %s: %w", name, os.NewSyscallError("ioctl TUNSETVNETHDRSZ", err))
		}
	}
	return fd, name, nil
}

// The TUNSETOFFLOAD flags (linux/if_tun.h); golang.org/x/sys has none.
const (
	tunFCsum = 0x01 // TUN_F_CSUM
	tunFTSO4 = 0x02 // TUN_F_TSO4
	tunFUSO4 = 0x20 // TUN_F_USO4 (Linux 6.2)
	tunFUSO6 = 0x40 // TUN_F_USO6: the kernel takes UDP segmentation only with both
)

// offloadFlags returns the TUNSETOFFLOAD argument for o.
func offloadFlags(o Offloads) int {
	f := 0
	if o&OffloadCsum != 0 {
		f |= tunFCsum
	}
	if o&OffloadTSO4 != 0 {
		f |= tunFTSO4
	}
	if o&OffloadUSO4 != 0 {
		f |= tunFUSO4 | tunFUSO6
	}
	return f
}

// probeOffloads asks the kernel for checksum offload, TSO4 and UDP
// segmentation, then for less each time it refuses (an unknown flag is
// EINVAL: UDP segmentation before Linux 6.2), and returns what it took. It
// leaves the offloads off: Attach turns them on for a Dispatcher that
// takes them.
func probeOffloads(fd int) Offloads {
	var took Offloads
	for _, o := range []Offloads{OffloadCsum | OffloadTSO4 | OffloadUSO4, OffloadCsum | OffloadTSO4, OffloadCsum} {
		if unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, offloadFlags(o)) == nil {
			took = o
			break
		}
	}
	unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, 0)
	return took
}

// setOffloads asks the kernel for the offloads o on what it sends.
func setOffloads(f *os.File, o Offloads) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	if err := rc.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetInt(int(fd), unix.TUNSETOFFLOAD, offloadFlags(o))
	}); err != nil {
		return err
	}
	return ioErr
}

// vnetWriter writes a virtio-net header and a packet in one writev, which
// the kernel takes as one packet, without copying the packet or
// allocating: the header, the iovecs and the function the poller calls
// are kept here, under mu.
type vnetWriter struct {
	mu  sync.Mutex
	rc  syscall.RawConn
	fn  func(fd uintptr) bool // w.writev, made once
	hdr [vnetHdrLen]byte
	iov [1 + link.MaxGatherParts]unix.Iovec
	cnt uintptr // iovecs in use
	n   int
	err error
}

func (w *vnetWriter) init(f *os.File) {
	w.rc, _ = f.SyscallConn() // an *os.File always has one
	w.fn = w.writev
}

// write writes pkt behind the header for g and returns the packet bytes
// written.
func (w *vnetWriter) write(pkt []byte, g link.GSO) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.start(g)
	w.add(pkt)
	return w.flush()
}

// writeParts writes the packet made of parts (at most
// link.MaxGatherParts) behind the header for g and returns the packet
// bytes written.
func (w *vnetWriter) writeParts(parts [][]byte, g link.GSO) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.start(g)
	for _, p := range parts {
		w.add(p)
	}
	return w.flush()
}

// start sets the header for g as the first iovec.
func (w *vnetWriter) start(g link.GSO) {
	encodeVnet(w.hdr[:], g)
	w.iov[0].Base = &w.hdr[0]
	w.iov[0].SetLen(vnetHdrLen)
	w.cnt = 1
}

// add appends p, if not empty, as the next iovec.
func (w *vnetWriter) add(p []byte) {
	if len(p) > 0 {
		w.iov[w.cnt].Base = &p[0]
		w.iov[w.cnt].SetLen(len(p))
		w.cnt++
	}
}

// flush writes the iovecs and then forgets the packet's.
func (w *vnetWriter) flush() (int, error) {
	err := w.rc.Write(w.fn)
	for i := 1; i < int(w.cnt); i++ {
		w.iov[i].Base = nil // keep nothing of the packet
	}
	if err != nil {
		return 0, os.ErrClosed // rc.Write fails only on a closed file
	}
	if w.err != nil {
		return 0, w.err
	}
	return max(w.n-vnetHdrLen, 0), nil
}

// writev is the poller's callback: it reports false to wait for the
// descriptor to be writable.
func (w *vnetWriter) writev(fd uintptr) bool {
	for {
		n, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), w.cnt)
		switch e {
		case 0:
			w.n, w.err = int(n), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			w.n, w.err = 0, os.NewSyscallError("writev", e)
		}
		return true
	}
}

// configure sets the MTU, the host address and the up flag of the
// interface name, through a socket of the calling thread's namespace.
func configure(name string, mtu int, cfg Config) error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("tun: configuring %s: %w", name, os.NewSyscallError("socket", err))
	}
	defer unix.Close(s)

	ioctl := func(what string, req uint, ifr *unix.Ifreq) error {
		if err := unix.IoctlIfreq(s, req, ifr); err != nil {
			return fmt.Errorf("tun: configuring %s: %w", name, os.NewSyscallError("ioctl "+what, err))
		}
		return nil
	}
	ifr, _ := unix.NewIfreq(name) // the kernel's name always fits
	ifr.SetUint32(uint32(mtu))
	if err := ioctl("SIOCSIFMTU", unix.SIOCSIFMTU, ifr); err != nil {
		return err
	}

	if p := cfg.HostAddr; p.IsValid() {
		// SIOCSIFADDR leaves an equal address alone and replaces another;
		// the netmask follows, which also sets the prefix route.
		addr := p.Addr().As4()
		mask := netmask4(p.Bits())
		ifr, _ = unix.NewIfreq(name)
		_ = ifr.SetInet4Addr(addr[:]) // 4 bytes: cannot fail
		if err := ioctl("SIOCSIFADDR", unix.SIOCSIFADDR, ifr); err != nil {
			return err
		}
		ifr, _ = unix.NewIfreq(name)
		_ = ifr.SetInet4Addr(mask[:])
		if err := ioctl("SIOCSIFNETMASK", unix.SIOCSIFNETMASK, ifr); err != nil {
			return err
		}
	}

	ifr, _ = unix.NewIfreq(name)
	if err := ioctl("SIOCGIFFLAGS", unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return ioctl("SIOCSIFFLAGS", unix.SIOCSIFFLAGS, ifr)
}

// netmask4 returns the IPv4 netmask of a prefix length.
func netmask4(bits int) [4]byte {
	m := ^uint32(0) << (32 - bits)
	if bits == 0 {
		m = 0
	}
	return [4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}
}

// describe names the device in messages before the kernel has named it.
func describe(name string) string {
	if name == "" {
		return "a TUN device"
	}
	return name
}

// openError explains a failure to open the clone device.
func openError(name string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENXIO):
		return fmt.Errorf("tun: %s not found: load the tun module or run where TUN exists: %w", cloneDevice, err)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("tun: creating %s needs CAP_NET_ADMIN (run as root): %w", describe(name), err)
	}
	return fmt.Errorf("tun: creating %s: %w", describe(name), err)
}

// setIffError explains a failure of TUNSETIFF on the first of n queues.
func setIffError(name string, n int, err error) error {
	switch {
	case n > 1 && errors.Is(err, unix.EINVAL):
		return fmt.Errorf("tun: cannot create %s with %d queues: the name is invalid, or taken by an interface that is not a multi-queue TUN device (ip tuntap add ... multi_queue makes one), or the kernel has no multi-queue TUN: %w",
			describe(name), n, err)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("tun: creating %s needs CAP_NET_ADMIN (run as root): %w", describe(name), err)
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("tun: %s is busy: another descriptor is attached to it: %w", describe(name), err)
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("tun: cannot create %s: the name is invalid or taken by an interface that is not a TUN device: %w",
			describe(name), err)
	}
	return fmt.Errorf("tun: creating %s: %w", describe(name), err)
}

// queueError explains a failure of TUNSETIFF on queue i of n, the device
// made: the kernel refuses another queue.
func queueError(name string, i, n int, err error) error {
	return fmt.Errorf("tun: %s refuses queue %d of %d (IFF_MULTI_QUEUE): %w", name, i+1, n, err)
}

// readError explains a failed read; EBADFD means the device is gone.
func readError(name string, err error) error {
	if errors.Is(err, unix.EBADFD) {
		return fmt.Errorf("tun: device %s is gone (deleted from outside?): %w", name, err)
	}
	return fmt.Errorf("tun: reading from %s: %w", name, err)
}

// writeError explains a failed write; EBADFD means the device is gone.
func writeError(name string, err error) error {
	if errors.Is(err, unix.EBADFD) {
		return fmt.Errorf("tun: device %s is gone (deleted from outside?): %w", name, err)
	}
	return fmt.Errorf("tun: writing to %s: %w", name, err)
}
