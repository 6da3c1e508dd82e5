"""The attacker's listener for the flow tests: binds TCP and UDP ports on
every address of the network namespace it runs in (the test makes one),
prints "ready", then one line per receipt:

  tcp <local address>:<port> <bytes>
  udp <port> <bytes>

Usage: net_listener.py tcp:443 udp:443 ...
"""
import socket
import sys
import threading


# print() writes the line and its newline apart: two clients' threads
# would interleave them ("tcp a 66tcp b 1220"), and the test would read a
# wrong count and miss the other receipt.
_report_lock = threading.Lock()


def report(line):
    with _report_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def serve_tcp_client(conn):
    with conn:
        host, port = conn.getsockname()[:2]
        conn.settimeout(10)
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                report(f"tcp {host}:{port} {len(data)}")
        except OSError:
            return


def serve_tcp(sock):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve_tcp_client, args=(conn,), daemon=True).start()


def serve_udp(sock, port):
    while True:
        data, _ = sock.recvfrom(65536)
        report(f"udp {port} {len(data)}")


def main():
    threads = []
    for spec in sys.argv[1:]:
        transport, port = spec.split(":")
        port = int(port)
        if transport == "tcp":
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("0.0.0.0", port))
            sock.listen(16)
            threads.append(threading.Thread(target=serve_tcp, args=(sock,), daemon=True))
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("0.0.0.0", port))
            threads.append(threading.Thread(target=serve_udp, args=(sock, port), daemon=True))
    for thread in threads:
        thread.start()
    report("ready")
    threading.Event().wait()


if __name__ == "__main__":
    main()
