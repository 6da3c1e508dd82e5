"""The soak's steady load, for MINUTES minutes: each second 20 execs of
/bin/true, 50 loopback TCP connects and 50 create+write+unlink cycles in
DIR (100 file events). Loopback and DIR only. Run under a scope root's
name (a copy of python3), so that the agent polices what it starts."""
import os
import socket
import subprocess
import sys
import threading
import time

minutes, directory = float(sys.argv[1]), sys.argv[2]
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
end = time.monotonic() + minutes * 60
tick = time.monotonic()
while tick < end:
    for _ in range(20):
        subprocess.run(["/bin/true"], check=True)
    for _ in range(50):
        socket.create_connection(("127.0.0.1", port)).close()
    for index in range(50):
        path = os.path.join(directory, f"f{index}")
        with open(path, "w") as file:
            file.write("x")
        os.unlink(path)
    tick += 1
    time.sleep(max(0, tick - time.monotonic()))
