"""N loopback TCP connects to a server this script starts itself; prints
its own loop time as elapsed=SECONDS. Loopback only."""
import socket
import sys
import threading
import time

count = int(sys.argv[1])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(1024)
port = server.getsockname()[1]


def accept():
    while True:
        connection, _ = server.accept()
        connection.close()


threading.Thread(target=accept, daemon=True).start()
start = time.perf_counter()
for _ in range(count):
    client = socket.create_connection(("127.0.0.1", port))
    client.close()
print(f"elapsed={time.perf_counter() - start:.6f} n={count}")
