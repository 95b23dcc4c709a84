#!/usr/bin/env python3
"""Hostile clients against one Redis-protocol server (redis-server or pgrelay), one scenario at a time.

    hostile.py <port> <server pid> <password> <scenario>

Prints one line: "<scenario> cpu_s=<server CPU seconds> peak_rss_mb=<peak RSS> rss_mb=<RSS after> extra=<...>".
Peak RSS is the kernel's high-water mark (VmHWM), reset before each scenario (clear_refs 5); everything is bounded
in count and time. Scenarios follow issue 11's table:
  big        one authenticated 66 MB HMGET, sent in 64 KiB pieces
  trickle    one authenticated 393 KB HMGET, 100 bytes at a time with 1 ms pauses
  preauth    60 unauthenticated connections each sending *65536 and 1 MiB bulks for 5 s
  idle       10,000 connections that authenticate and then sit idle
  noread     50 clients pipelining HGETALL for 5 s without reading a byte
  subs       50 subscribers that never read, one publisher sending 1 KB messages for 5 s
"""
import os, socket, sys, time, threading

port, pid, password, scenario = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
HZ = os.sysconf("SC_CLK_TCK")


def cpu():
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def status(name):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_peak():
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def connect(auth=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if auth:
        s.sendall(resp("AUTH", password))
        reply = s.recv(64)
        assert reply.startswith(b"+OK"), reply
    return s


def read_reply_array(s, count):
    """Reads until a reply of <count> nil bulks (HMGET of missing fields) has fully arrived."""
    want = len(b"*%d\r\n" % count) + 5 * count
    got = 0
    while got < want:
        chunk = s.recv(1 << 20)
        if not chunk:
            raise EOFError("closed")
        got += len(chunk)


def hmget(fields, size):
    body = b"".join(b"$%d\r\n%s\r\n" % (size, b"f" * size) for _ in range(fields))
    return b"*%d\r\n$5\r\nHMGET\r\n$11\r\npub.users.1\r\n" % (fields + 2) + body


extra = ""
reset_peak()
start_cpu = cpu()

if scenario == "big":
    s = connect()
    request = hmget(65_000, 1000)
    for at in range(0, len(request), 65536):
        s.sendall(request[at:at + 65536])
    read_reply_array(s, 65_000)
    extra = f"request_mb={len(request) / 1048576:.0f}"
    s.close()
elif scenario == "trickle":
    s = connect()
    request = hmget(6_000, 60)
    for at in range(0, len(request), 100):
        s.sendall(request[at:at + 100])
        time.sleep(0.001)
    read_reply_array(s, 6_000)
    extra = f"request_kb={len(request) / 1024:.0f}"
    s.close()
elif scenario == "preauth":
    refused = [0]
    def flood():
        try:
            s = connect(auth=False)
            s.settimeout(5)
            s.sendall(b"*65536\r\n")
            deadline = time.time() + 5
            bulk = b"$1048576\r\n" + b"z" * 1048576 + b"\r\n"
            while time.time() < deadline:
                s.sendall(bulk)
        except OSError:
            refused[0] += 1
    threads = [threading.Thread(target=flood) for _ in range(60)]
    for t in threads: t.start()
    for t in threads: t.join()
    extra = f"connections_cut_off={refused[0]}"
elif scenario == "idle":
    before = status("VmRSS")
    sockets = []
    for _ in range(10_000):
        sockets.append(connect())
    time.sleep(1)
    extra = f"rss_with_idle_mb={status('VmRSS'):.0f} per_connection_kb={(status('VmRSS') - before) * 1024 / len(sockets):.1f}"
    for s in sockets: s.close()
elif scenario == "noread":
    request = resp("HGETALL", "pub.users.1") * 1000
    clients = []
    for _ in range(50):
        s = connect()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        clients.append([s, 0])
    deadline = time.time() + 5
    closed = 0
    while time.time() < deadline and clients:
        for c in list(clients):
            try:
                c[1] += c[0].send(request[c[1] % len(request):])
            except BlockingIOError:
                pass
            except OSError:
                clients.remove(c); closed += 1
        time.sleep(0.001)
    extra = f"clients_disconnected={closed}"
    for c in clients: c[0].close()
elif scenario == "subs":
    subs = []
    for _ in range(50):
        s = connect()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(resp("SUBSCRIBE", "firehose"))
        s.recv(128)
        subs.append(s)
    pub = connect()
    message = resp("PUBLISH", "firehose", b"m" * 1000)
    deadline = time.time() + 5
    receivers = 50
    while time.time() < deadline:
        pub.sendall(message * 100)
        data = b""
        while data.count(b"\r\n") < 100:
            data += pub.recv(65536)
        receivers = int(data.split(b"\r\n")[-2][1:])
    extra = f"subscribers_left={receivers}"
    for s in subs: s.close()
    pub.close()
else:
    sys.exit(f"unknown scenario {scenario}")

time.sleep(2)   # let closes and frees land
print(f"{scenario} cpu_s={cpu() - start_cpu:.2f} peak_rss_mb={status('VmHWM'):.0f} rss_mb={status('VmRSS'):.0f} {extra}")
