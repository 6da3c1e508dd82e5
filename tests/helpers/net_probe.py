"""Network probe for tests/network_sensor_test.ts: one network action per
run, printing "ok" or "errno N" (and extra lines per subcommand).

Only ever pointed at loopback or at a network namespace the test made.
"""
import errno
import os
import socket
import struct
import sys
import time


def result(fn):
    try:
        fn()
        print("ok", flush=True)
    except OSError as error:
        print(f"errno {error.errno}", flush=True)


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def tcp(host, port):
    with socket.socket(family_of(host), socket.SOCK_STREAM) as s:
        s.settimeout(3)
        result(lambda: s.connect((host, int(port))))


def tcp_fastopen(host, port):
    with socket.socket(family_of(host), socket.SOCK_STREAM) as s:
        s.settimeout(3)
        result(lambda: s.sendto(b"x", socket.MSG_FASTOPEN, (host, int(port))))


def udp(host, port, count="1"):
    with socket.socket(family_of(host), socket.SOCK_DGRAM) as s:
        def send():
            for _ in range(int(count)):
                s.sendto(b"x", (host, int(port)))
        result(send)


def tcp_send(host, port, data="secret"):
    """connect, send `data`, then wait a little: "ok", "timeout" or "errno N"."""
    with socket.socket(family_of(host), socket.SOCK_STREAM) as s:
        s.settimeout(2)
        try:
            s.connect((host, int(port)))
            s.sendall(data.encode())
            time.sleep(0.5)
            print("ok", flush=True)
        except socket.timeout:
            print("timeout", flush=True)
        except OSError as error:
            print(f"errno {error.errno}", flush=True)


def udp_connected(host, port):
    with socket.socket(family_of(host), socket.SOCK_DGRAM) as s:
        def send():
            s.connect((host, int(port)))
            s.send(b"x")
        result(send)


def icmp(host):
    """ICMP echo over a raw socket: ok when a reply came back."""
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        s.settimeout(1)
        header = struct.pack("!BBHHH", 8, 0, 0, 0x4242, 1)
        checksum = 0
        for i in range(0, len(header), 2):
            checksum += (header[i] << 8) + header[i + 1]
        checksum = (checksum >> 16) + (checksum & 0xFFFF)
        checksum = ~checksum & 0xFFFF
        packet = struct.pack("!BBHHH", 8, 0, checksum, 0x4242, 1)
        try:
            s.sendto(packet, (host, 0))
            while True:
                data, source = s.recvfrom(1024)
                if source[0] == host and data[20] == 0:
                    print("ok", flush=True)
                    return
        except socket.timeout:
            print("noreply", flush=True)
        except OSError as error:
            print(f"errno {error.errno}", flush=True)


def listen(host):
    with socket.socket(family_of(host), socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        s.listen()
        print("ok", flush=True)


def wait_then(args):
    """Waits for a line on stdin (the test changes our scope meanwhile)."""
    print("ready", flush=True)
    sys.stdin.readline()
    main(args)


def resolve_connect(name, port):
    """getaddrinfo (the system resolver) then connect to each address."""
    try:
        infos = socket.getaddrinfo(name, int(port), socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror as error:
        print(f"gaierror {error.errno}", flush=True)
        return
    for info in infos:
        address = info[4][0]
        print(f"address {address}", flush=True)
        with socket.socket(info[0], socket.SOCK_STREAM) as s:
            s.settimeout(3)
            result(lambda: s.connect(info[4]))


def query_message(name, qtype=1, ident=None):
    """A standard query for (name, qtype), recursion desired."""
    if ident is None:
        ident = os.getpid() & 0xFFFF
    question = b"".join(
        bytes([len(label)]) + label.encode() for label in name.split(".")
    ) + b"\0" + struct.pack("!HH", qtype, 1)
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question


def query(server, name, qtype=1, tcp=False, timeout=3):
    """A DNS query of our own; returns the answer's addresses."""
    message = query_message(name, qtype)
    host, port = server
    if tcp:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(struct.pack("!H", len(message)) + message)
            length = struct.unpack("!H", recv_exact(s, 2))[0]
            answer = recv_exact(s, length)
    else:
        with socket.socket(family_of(host), socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(message, (host, port))
            answer = s.recv(4096)
    return parse_addresses(answer)


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise OSError(errno.ECONNRESET, "short read")
        data += chunk
    return data


def skip_name(data, pos):
    while True:
        length = data[pos]
        if length & 0xC0 == 0xC0:
            return pos + 2
        if length == 0:
            return pos + 1
        pos += 1 + length


def parse_addresses(data):
    count = struct.unpack("!H", data[6:8])[0]
    pos = skip_name(data, 12) + 4
    addresses = []
    for _ in range(count):
        pos = skip_name(data, pos)
        rtype, _, _, rdlen = struct.unpack("!HHIH", data[pos:pos + 10])
        pos += 10
        if rtype == 1:
            addresses.append(socket.inet_ntop(socket.AF_INET, data[pos:pos + 4]))
        elif rtype == 28:
            addresses.append(socket.inet_ntop(socket.AF_INET6, data[pos:pos + 16]))
        pos += rdlen
    return addresses


def dns_connect(server, server_port, name, port, transport="udp", qtype="1"):
    """Our own DNS query, then a TCP connect to each address of the answer."""
    try:
        addresses = query((server, int(server_port)), name, int(qtype),
                          tcp=transport == "tcp")
    except OSError as error:
        print(f"query errno {error.errno}", flush=True)
        return
    for address in addresses:
        print(f"address {address}", flush=True)
        with socket.socket(family_of(address), socket.SOCK_STREAM) as s:
            s.settimeout(3)
            result(lambda: s.connect((address, int(port))))


def dns_udp(server, server_port, name, port, count="3"):
    """Our own DNS query, then UDP datagrams to the answer's first address."""
    try:
        address = query((server, int(server_port)), name)[0]
    except (OSError, IndexError) as error:
        print(f"query failed {error}", flush=True)
        return
    print(f"address {address}", flush=True)
    udp(address, port, count)


def client_hello(server_name, padding=0):
    """A TLS 1.3 ClientHello (RFC 8446 §4.1.2) with a padding extension
    (RFC 7685) of `padding` bytes before server_name, in one record."""
    name = server_name.encode()
    sni = struct.pack("!HBH", len(name) + 3, 0, len(name)) + name
    extensions = b""
    if padding:
        extensions += struct.pack("!HH", 21, padding) + bytes(padding)
    extensions += struct.pack("!HH", 0, len(sni)) + sni
    extensions += struct.pack("!HHB", 43, 3, 2) + b"\x03\x04"
    body = (b"\x03\x03" + os.urandom(32) + b"\x20" + os.urandom(32)
            + struct.pack("!H", 2) + b"\x13\x01" + b"\x01\x00"
            + struct.pack("!H", len(extensions)) + extensions)
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def http_request(host, target="/", body=b""):
    head = f"POST {target} HTTP/1.1\r\nHost: {host}\r\n"
    head += f"Content-Length: {len(body)}\r\n\r\n" if body else "\r\n"
    return head.encode() + body


def stream(server, server_port, name, port, variant, server_name="",
           linger="2"):
    """Resolve `name`, connect on `port` and send the first bytes of
    `variant` (see STREAMS) in the segments it says; "sent" or an error."""
    import socket as sockets
    try:
        address = query((server, int(server_port)), name)[0]
    except (OSError, IndexError) as error:
        print(f"query failed {error}", flush=True)
        return
    segments = STREAMS[variant](server_name or name)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        s.setsockopt(sockets.IPPROTO_TCP, sockets.TCP_NODELAY, 1)
        try:
            s.connect((address, int(port)))
            for segment in segments:
                s.send(segment)
                time.sleep(0.3)
            # what was held comes again (TCP retransmits) once verified
            time.sleep(float(linger))
            print("sent", flush=True)
        except OSError as error:
            print(f"errno {error.errno}", flush=True)


def split_hello(name):
    hello = client_hello(name, 300)
    return [hello[:200], hello[200:]]


STREAMS = {
    "raw": lambda name: [b"not tls, not http: secret"],
    "byte": lambda name: [b"x"],
    "tls-byte": lambda name: [b"\x16"],
    "tls": lambda name: [client_hello(name)],
    "tls-padded": lambda name: [client_hello(name, 1100)],
    "tls-split": split_hello,
    "http": lambda name: [http_request(name, body=b"data")],
    "http-no-host": lambda name: [b"GET / HTTP/1.1\r\nUser-Agent: probe\r\n\r\n"],
    "http-keepalive": lambda name: [
        http_request(name, body=b"first"),
        http_request("evil.example", body=b"second"),
    ],
    "http-absolute": lambda name: [
        http_request(name, target="http://evil.example/x")],
    "http-chunked": lambda name: [
        f"POST / HTTP/1.1\r\nHost: {name}\r\nTransfer-Encoding: chunked\r\n\r\n"
        .encode() + b"4\r\ndata\r\n0\r\n\r\n"],
}


def dns_loop(server, server_port, count, suffix):
    """count × (resolve a fresh name, connect at once to what it says).

    Listens on the wildcard address: only run inside a test namespace.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("0.0.0.0", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    ok = 0
    failures = []
    start = time.monotonic()
    for i in range(int(count)):
        name = f"n{i}.{suffix}"
        try:
            addresses = query((server, int(server_port)), name)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(3)
                s.connect((addresses[0], port))
            listener.accept()[0].close()
            ok += 1
        except (OSError, IndexError) as error:
            failures.append(f"{name}: {error}")
    print(f"ok {ok} in {time.monotonic() - start:.2f}s", flush=True)
    for failure in failures[:5]:
        print(f"failed {failure}", flush=True)


def first_payload(server, server_port, name, port, send):
    """Resolve `name`, connect to its address on `port` and send(socket):
    "delivered" when our own listener got the bytes, else "dropped".

    Listens on the wildcard address: only run inside a test namespace.
    """
    import threading
    address = query((server, int(server_port)), name)[0]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", int(port)))
    listener.listen(1)

    def client():
        try:
            with socket.create_connection((address, int(port)), timeout=2) as s:
                send(s)
        except OSError:
            pass

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    conn, _ = listener.accept()
    conn.settimeout(1.5)
    try:
        data = conn.recv(4096)
        print("delivered" if data else "dropped", flush=True)
    except socket.timeout:
        print("dropped", flush=True)


def tls(server, server_port, name, server_name, port="443"):
    """A TLS hello for `server_name` (see first_payload)."""
    import ssl
    context = ssl.create_default_context()

    def hello(s):
        try:
            context.wrap_socket(s, server_hostname=server_name)
        except ssl.SSLError:
            pass
    first_payload(server, server_port, name, port, hello)


def http(server, server_port, name, host, port="80"):
    """An HTTP/1.1 request with `Host: host:port` (see first_payload)."""
    request = f"GET / HTTP/1.1\r\nUser-Agent: probe\r\nHost: {host}:{port}\r\n\r\n"
    first_payload(server, server_port, name, port,
                  lambda s: (s.sendall(request.encode()), time.sleep(1)))


def dig(server, server_port, name, qtype="1", transport="udp"):
    """One query, as dig would send it: "answer A1 A2..." or why not."""
    try:
        addresses = query((server, int(server_port)), name, int(qtype),
                          tcp=transport == "tcp", timeout=1)
        print(" ".join(["answer", *addresses]), flush=True)
    except socket.timeout:
        print("query timeout", flush=True)
    except OSError as error:
        print(f"query errno {error.errno}", flush=True)


def answer_message(query_bytes, address):
    """An answer to query_bytes giving `address` (A, TTL 60)."""
    ident = query_bytes[:2]
    end = 12
    while query_bytes[end]:
        end += 1 + query_bytes[end]
    question = query_bytes[12:end + 5]
    record = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + \
        socket.inet_aton(address)
    return ident + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + question + record


def self_answer(resolver, name, address):
    """Serves DNS on (resolver, 53) and asks it for `name`, answered with
    `address`: a step's own resolver, in a namespace of its own making.
    Prints the addresses the answer gave."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind((resolver, 53))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(3)
        client.sendto(query_message(name), (resolver, 53))
        data, peer = server.recvfrom(4096)
        server.sendto(answer_message(data, address), peer)
        print(" ".join(["answer", *parse_addresses(client.recv(4096))]),
              flush=True)


def await_answer(host, port, target, target_port):
    """Waits on UDP (host, port) for one datagram (a forged answer), then
    connects to (target, target_port) and sends a byte."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, int(port)))
        s.settimeout(5)
        try:
            s.recv(4096)
            print("received", flush=True)
        except socket.timeout:
            print("nothing received", flush=True)
            return
    tcp_send(target, target_port, "x")


def forge(source, destination, port, name, address, seconds="3"):
    """Raw IPv4 packets from (source, 53) to (destination, port), each a
    DNS answer giving `address` for `name` that no query asked, every
    0.1 s for `seconds`: packet injection as root."""
    payload = answer_message(query_message(name, 1, 0x4242), address)
    udp = struct.pack("!HHHH", 53, int(port), 8 + len(payload), 0) + payload
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64,
                         socket.IPPROTO_UDP, 0, socket.inet_aton(source),
                         socket.inet_aton(destination))
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as s:
        deadline = time.monotonic() + float(seconds)
        while time.monotonic() < deadline:
            s.sendto(header + udp, (destination, 0))
            time.sleep(0.1)
    print("ok", flush=True)


def sink(host, port, log):
    """Accepts TCP on (host, port) and appends what arrives to `log`.

    Runs outside the scope, as the attacker's listener."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, int(port)))
    listener.listen(16)
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        with conn:
            with open(log, "a") as out:
                out.write("connection\n")
            conn.settimeout(2)
            try:
                data = conn.recv(4096)
            except socket.timeout:
                data = b""
            if data:
                with open(log, "a") as out:
                    out.write(f"bytes {len(data)}\n")


# ---- privileged primitives: only ever run inside a test namespace ----

def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def ipv4_header(source, destination, protocol, payload_size):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_size, 0x4242,
                         0, 64, protocol, 0, socket.inet_aton(source),
                         socket.inet_aton(destination))
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:]


def udp_segment(source, destination, port, payload):
    size = 8 + len(payload)
    pseudo = socket.inet_aton(source) + socket.inet_aton(destination) + \
        struct.pack("!BBH", 0, socket.IPPROTO_UDP, size)
    header = struct.pack("!HHHH", 40000, int(port), size, 0)
    return struct.pack("!HHHH", 40000, int(port), size,
                       checksum(pseudo + header + payload)) + payload


def tcp_syn(source, destination, port, payload):
    header = struct.pack("!HHIIBBHHH", 40001, int(port), 1, 0, 5 << 4, 0x02,
                         65535, 0, 0)
    pseudo = socket.inet_aton(source) + socket.inet_aton(destination) + \
        struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(header) + len(payload))
    csum = checksum(pseudo + header + payload)
    return header[:16] + struct.pack("!H", csum) + header[18:] + payload


def raw_udp(source, host, port, marker):
    """A UDP datagram built by hand on a raw IPPROTO_UDP socket."""
    def send():
        with socket.socket(socket.AF_INET, socket.SOCK_RAW,
                           socket.IPPROTO_UDP) as s:
            s.sendto(udp_segment(source, host, port, marker.encode()),
                     (host, 0))
    result(send)


def hdrincl(source, host, port, marker):
    """IP_HDRINCL: the whole IPv4 header is ours, the source forged."""
    def send():
        with socket.socket(socket.AF_INET, socket.SOCK_RAW,
                           socket.IPPROTO_UDP) as s:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
            segment = udp_segment(source, host, port, marker.encode())
            s.sendto(ipv4_header(source, host, socket.IPPROTO_UDP,
                                 len(segment)) + segment, (host, 0))
    result(send)


def raw_syn(source, host, port, marker):
    """A TCP SYN carrying data, on a raw IPPROTO_TCP socket."""
    def send():
        with socket.socket(socket.AF_INET, socket.SOCK_RAW,
                           socket.IPPROTO_TCP) as s:
            s.sendto(tcp_syn(source, host, port, marker.encode()), (host, 0))
    result(send)


def frame(source, host, port, marker):
    """An Ethernet broadcast frame holding an IPv4/UDP datagram."""
    segment = udp_segment(source, host, port, marker.encode())
    return b"\xff" * 6 + b"\x02\0\0\0\0\x01" + b"\x08\x00" + \
        ipv4_header(source, host, socket.IPPROTO_UDP, len(segment)) + segment


def packet(interface, source, host, port, marker):
    """An Ethernet frame written on an AF_PACKET socket."""
    def send():
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
            s.bind((interface, 0))
            s.send(frame(source, host, port, marker))
    result(send)


def tun(interface, source, host, port, marker):
    """Attaches to TUN device `interface` (TUNSETIFF) and writes a packet
    into the namespace's stack, to be forwarded."""
    import fcntl

    def send():
        fd = os.open("/dev/net/tun", os.O_RDWR)
        try:
            # struct ifreq: the name, then IFF_TUN | IFF_NO_PI
            request = struct.pack("16sH22x", interface.encode(), 0x0001 | 0x1000)
            fcntl.ioctl(fd, 0x400454CA, request)
            segment = udp_segment(source, host, port, marker.encode())
            os.write(fd, ipv4_header(source, host, socket.IPPROTO_UDP,
                                     len(segment)) + segment)
        finally:
            os.close(fd)
    result(send)


def netlink_netfilter():
    """socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER), what nft opens."""
    def open_it():
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12) as s:
            s.bind((0, 0))
    result(open_it)


def icmp_dgram(host):
    """An ICMP echo on an unprivileged ping socket (SOCK_DGRAM)."""
    def send():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM,
                           socket.IPPROTO_ICMP) as s:
            s.sendto(struct.pack("!BBHHH", 8, 0, 0, 0, 1) + b"ping", (host, 0))
    result(send)


def sniff(interface, marker, seconds):
    """Outside the scope: prints "ready", then "got" when a frame carrying
    `marker` arrives on `interface` within `seconds`, else "nothing"."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                       socket.htons(0x0003)) as s:
        s.bind((interface, 0))
        s.settimeout(0.2)
        print("ready", flush=True)
        deadline = time.monotonic() + float(seconds)
        while time.monotonic() < deadline:
            try:
                data = s.recv(65536)
            except socket.timeout:
                continue
            if marker.encode() in data:
                print("got", flush=True)
                return
        print("nothing", flush=True)


COMMANDS = {
    "dig": dig,
    "selfanswer": self_answer,
    "awaitanswer": await_answer,
    "forge": forge,
    "sink": sink,
    "rawudp": raw_udp,
    "hdrincl": hdrincl,
    "rawsyn": raw_syn,
    "packet": packet,
    "tun": tun,
    "nfnetlink": netlink_netfilter,
    "ping": icmp_dgram,
    "sniff": sniff,
    "tls": tls,
    "http": http,
    "tcp": tcp,
    "tcpsend": tcp_send,
    "tfo": tcp_fastopen,
    "udp": udp,
    "udpconn": udp_connected,
    "icmp": icmp,
    "listen": listen,
    "resolve": resolve_connect,
    "dns": dns_connect,
    "dnsudp": dns_udp,
    "stream": stream,
    "dnsloop": dns_loop,
}


def main(args):
    if args[0] == "wait":
        wait_then(args[1:])
        return
    COMMANDS[args[0]](*args[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
