#!/usr/bin/env python3
"""Capture golden packets from the Linux kernel on loopback (127.0.0.1 only).

Run as root, preferably in a private network namespace so that nothing else
is on lo:  unshare -n sh -c 'ip link set lo up && python3 capture_lo.py'

It opens an AF_PACKET socket bound to "lo" and, while the kernel does the
work, prints as hex (IPv4 header onwards, the 14-byte zero Ethernet header
of lo stripped):
  SYN      a connect() to a listening socket on 127.0.0.1
  SYNACK   the listener's answer
  RSTACK   the answer to a SYN sent to a closed port
  UDP      a datagram sent to a closed port
  ICMP     the port-unreachable error it provokes
Each line also says whether the kernel left the transport checksum for the
device to finish (TP_STATUS_CSUMNOTREADY: lo uses checksum offload, so the
field then holds only the pseudo-header sum).
"""
import select, socket, struct

ETH_P_ALL = 3
SOL_PACKET, PACKET_AUXDATA = 263, 8
TP_STATUS_CSUMNOTREADY = 8

raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
raw.bind(("lo", 0))
raw.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)

def closed_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p

ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.bind(("127.0.0.1", 0))
ls.listen(1)
port = ls.getsockname()[1]
c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
c.connect(("127.0.0.1", port))
a, _ = ls.accept()

dead = closed_port()
r = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    r.connect(("127.0.0.1", dead))
except ConnectionRefusedError:
    pass

u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.connect(("127.0.0.1", dead))
u.send(b"synack")

want = {"SYN", "SYNACK", "RSTACK", "UDP", "ICMP"}
seen = {}
while want - seen.keys():
    rd, _, _ = select.select([raw], [], [], 2)
    if not rd:
        break
    pkt, anc, _, addr = raw.recvmsg(65535, 1024)
    status = 0
    for lvl, typ, data in anc:
        if lvl == SOL_PACKET and typ == PACKET_AUXDATA:
            status = struct.unpack_from("I", data)[0]
    ip = pkt[14:]
    if len(ip) < 20 or ip[0] >> 4 != 4:
        continue
    ihl = (ip[0] & 15) * 4
    proto = ip[9]
    k = None
    if proto == 6:
        sp, dp = struct.unpack("!HH", ip[ihl:ihl + 4])
        fl = ip[ihl + 13]
        if fl == 0x02 and dp == port:
            k = "SYN"
        elif fl == 0x12 and sp == port:
            k = "SYNACK"
        elif fl == 0x14 and sp == dead:
            k = "RSTACK"
    elif proto == 17 and struct.unpack("!H", ip[ihl + 2:ihl + 4])[0] == dead:
        k = "UDP"
    elif proto == 1 and ip[ihl] == 3:
        k = "ICMP"
    if k and k not in seen:
        seen[k] = ip
        partial = bool(status & TP_STATUS_CSUMNOTREADY)
        print(f"{k} csum_not_ready={partial} {ip.hex()}")
