/**
 * Closes a TCP socket from outside its process: SOCK_DESTROY over the
 * inet_diag netlink interface (linux/sock_diag.h, net/ipv4/inet_diag.c;
 * needs CONFIG_INET_DIAG_DESTROY and CAP_NET_ADMIN). The kernel resets the
 * connection (tcp_abort), so what egress held back is never sent, not even
 * after the agent detaches its programs.
 *
 * The socket is looked up in the network namespace of its owner: the
 * netlink socket is made there (setns on this thread, and back), as
 * inet_diag only finds sockets of its own namespace.
 *
 * @module
 */

import { closeFd, cString, errno, libc, O_CLOEXEC, O_RDONLY } from "./libc.ts";

const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_SOCK_DIAG = 4;
const SOCK_DESTROY = 21;
const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const NLMSG_ERROR = 2;
const CLONE_NEWNET = 0x40000000;
const IPPROTO_TCP = 6;
/** nlmsghdr (16) + inet_diag_req_v2 (56). */
const REQUEST_SIZE = 72;

/** The four-tuple of a TCP socket, as a network event reports it. */
export interface SocketAddresses {
  family: 4 | 6;
  saddr: string;
  sport: number;
  daddr: string;
  dport: number;
}

/**
 * Destroys the TCP socket with these addresses in `pid`'s network
 * namespace (this one when the process is gone). An IPv4 flow is also
 * looked for as the v4-mapped peer of an IPv6 socket.
 *
 * @returns 0, or the errno the kernel answered (ENOENT: no such socket).
 */
export function destroyTcpSocket(pid: number, where: SocketAddresses): number {
  const fd = netlinkIn(pid);
  if (fd < 0) return errno();
  try {
    const first = destroy(fd, where.family === 4 ? AF_INET : AF_INET6, where);
    if (first === 0 || where.family === 6) return first;
    return destroy(fd, AF_INET6, where);
  } finally {
    closeFd(fd);
  }
}

function netlinkIn(pid: number): number {
  const c = libc();
  const own = openNamespace("/proc/thread-self/ns/net");
  const target = openNamespace(`/proc/${pid}/ns/net`);
  try {
    if (target >= 0 && own >= 0 && c.setns(target, CLONE_NEWNET) !== 0) {
      return -1;
    }
    try {
      return c.socket(
        AF_NETLINK,
        SOCK_DGRAM | SOCK_CLOEXEC,
        NETLINK_SOCK_DIAG,
      );
    } finally {
      if (target >= 0 && own >= 0) c.setns(own, CLONE_NEWNET);
    }
  } finally {
    if (target >= 0) closeFd(target);
    if (own >= 0) closeFd(own);
  }
}

function openNamespace(path: string): number {
  return libc().open(cString(path), O_RDONLY | O_CLOEXEC);
}

function destroy(fd: number, family: number, where: SocketAddresses): number {
  const request = new Uint8Array(REQUEST_SIZE);
  const view = new DataView(request.buffer);
  view.setUint32(0, REQUEST_SIZE, true);
  view.setUint16(4, SOCK_DESTROY, true);
  view.setUint16(6, NLM_F_REQUEST | NLM_F_ACK, true);
  view.setUint32(8, 1, true);
  // inet_diag_req_v2: family, protocol, ext, pad, states
  request[16] = family;
  request[17] = IPPROTO_TCP;
  view.setUint32(20, 0xffffffff, true);
  // inet_diag_sockid: sport, dport (network order), src, dst, if, cookie
  view.setUint16(24, where.sport, false);
  view.setUint16(26, where.dport, false);
  request.set(addressBytes(family, where.saddr), 28);
  request.set(addressBytes(family, where.daddr), 44);
  // INET_DIAG_NOCOOKIE: any socket with these addresses
  view.setUint32(64, 0xffffffff, true);
  view.setUint32(68, 0xffffffff, true);
  const c = libc();
  if (c.send(fd, request, BigInt(REQUEST_SIZE), 0) < 0) return errno();
  const answer = new Uint8Array(4096);
  const size = Number(c.recv(fd, answer, BigInt(answer.length), 0));
  if (size < 20) return size < 0 ? errno() : -1;
  const reply = new DataView(answer.buffer);
  if (reply.getUint16(4, true) !== NLMSG_ERROR) return -1;
  // nlmsgerr.error: 0, or a negative errno
  const error = reply.getInt32(16, true);
  return error === 0 ? 0 : -error;
}

/** 16 bytes: an IPv4 address first (AF_INET) or v4-mapped (AF_INET6). */
function addressBytes(family: number, text: string): Uint8Array {
  const bytes = new Uint8Array(16);
  if (!text.includes(":")) {
    const v4 = text.split(".").map(Number);
    if (family === AF_INET) bytes.set(v4, 0);
    else bytes.set([0xff, 0xff, ...v4], 10);
    return bytes;
  }
  const [head, tail] = text.split("::");
  const words = (part: string | undefined) =>
    part ? part.split(":").map((word) => parseInt(word, 16)) : [];
  const left = words(head);
  const right = tail === undefined ? [] : words(tail);
  const all = [
    ...left,
    ...Array(8 - left.length - right.length).fill(0),
    ...right,
  ];
  all.forEach((word, i) => {
    bytes[2 * i] = word >> 8;
    bytes[2 * i + 1] = word & 0xff;
  });
  return bytes;
}
