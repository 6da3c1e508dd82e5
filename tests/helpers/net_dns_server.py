"""A tiny authoritative DNS server for tests/network_sensor_test.ts, over
UDP and TCP on one address. Answers (TTL 60):

  n<i>.<anything>       A 127.1.<i / 256>.<i % 256>
  alias.<zone>          CNAME edge.cdn.example, then A 127.0.0.7
  v6.<zone>             AAAA ::1
  anything else         A 127.0.0.9
AAAA questions for other names get an empty answer.

With a third argument, a file, every query received is appended to it as
"<name> <qtype> <udp|tcp>", so that a test can tell which queries arrived.
"""
import socket
import struct
import sys
import threading


def read_name(data, pos):
    labels = []
    while data[pos]:
        labels.append(data[pos + 1:pos + 1 + data[pos]].decode())
        pos += 1 + data[pos]
    return ".".join(labels), pos + 1


def encode_name(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"


def record(owner, rtype, rdata):
    return owner + struct.pack("!HHIH", rtype, 1, 60, len(rdata)) + rdata


def answer(query):
    ident, _flags, _qd = struct.unpack("!HHH", query[:6])
    name, end = read_name(query, 12)
    qtype = struct.unpack("!H", query[end:end + 2])[0]
    question = query[12:end + 4]
    pointer = b"\xc0\x0c"  # compression pointer to the question's name
    records = []
    first = name.split(".")[0]
    if first == "alias":
        target = encode_name("edge.cdn.example")
        records.append(record(pointer, 5, target))
        if qtype == 1:
            # the owner is the CNAME target, pointed at inside the CNAME rdata
            target_offset = 12 + len(question) + 12
            records.append(record(struct.pack("!H", 0xC000 | target_offset), 1,
                                  socket.inet_aton("127.0.0.7")))
    elif first == "v6":
        if qtype == 28:
            records.append(record(pointer, 28, socket.inet_pton(socket.AF_INET6, "::1")))
    elif qtype == 1:
        if first.startswith("n") and first[1:].isdigit():
            i = int(first[1:])
            address = bytes([127, 1, (i >> 8) & 0xFF, i & 0xFF])
        else:
            address = socket.inet_aton("127.0.0.9")
        records.append(record(pointer, 1, address))
    header = struct.pack("!HHHHHH", ident, 0x8180, 1, len(records), 0, 0)
    return header + question + b"".join(records)


LOG = None


def log(query, transport):
    if LOG is None:
        return
    name, end = read_name(query, 12)
    qtype = struct.unpack("!H", query[end:end + 2])[0]
    with open(LOG, "a") as out:
        out.write(f"{name} {qtype} {transport}\n")


def serve_udp(sock):
    while True:
        data, peer = sock.recvfrom(4096)
        log(data, "udp")
        sock.sendto(answer(data), peer)


def serve_tcp_client(conn):
    with conn:
        while True:
            head = conn.recv(2)
            if len(head) < 2:
                return
            length = struct.unpack("!H", head)[0]
            data = b""
            while len(data) < length:
                data += conn.recv(length - len(data))
            log(data, "tcp")
            reply = answer(data)
            conn.sendall(struct.pack("!H", len(reply)) + reply)


def main():
    global LOG
    host, port = sys.argv[1], int(sys.argv[2])
    LOG = sys.argv[3] if len(sys.argv) > 3 else None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    udp = socket.socket(family, socket.SOCK_DGRAM)
    udp.bind((host, port))
    tcp = socket.socket(family, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((host, port))
    tcp.listen(16)
    threading.Thread(target=serve_udp, args=(udp,), daemon=True).start()
    print("ready", flush=True)
    while True:
        conn, _ = tcp.accept()
        threading.Thread(target=serve_tcp_client, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
