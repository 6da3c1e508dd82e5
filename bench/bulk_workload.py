"""One loopback TCP stream of N MB to a server this script starts itself;
prints its own transfer time as elapsed=SECONDS. Loopback only."""
import socket
import sys
import threading
import time

megabytes = int(sys.argv[1])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(1)
port = server.getsockname()[1]
received = threading.Event()


def sink():
    connection, _ = server.accept()
    total = 0
    while True:
        data = connection.recv(1 << 20)
        if not data:
            break
        total += len(data)
    connection.close()
    received.set()


threading.Thread(target=sink, daemon=True).start()
chunk = bytes(1 << 16)
start = time.perf_counter()
client = socket.create_connection(("127.0.0.1", port))
for _ in range(megabytes * 16):
    client.sendall(chunk)
client.close()
received.wait()
print(f"elapsed={time.perf_counter() - start:.6f} n={megabytes}")
