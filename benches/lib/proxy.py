# The fault proxy (benches/stores.sh, benches/compare.sh):
#
#   proxy.py MODE ARG STATEFILE UPSTREAM...
#
# MODE none | latency (ARG ms per chunk, each direction) | reset (after ARG
# bytes, once armed) | refuse (ARG seconds, once armed). UPSTREAM is a
# loopback port, or PORT/tls: that listener speaks TLS (certificate and key
# from PROXY_TLS_CERT and PROXY_TLS_KEY) and forwards the plaintext to PORT.
# PROXY_RATE (bytes/s, default 0 = none): a bandwidth cap per connection and
# direction (a pacing of the chunks, on top of any latency).
# PROXY_HANDSHAKE=1 (latency mode): a new connection's bytes start to flow one
# round trip (2 x ARG ms) later, as after a TCP handshake over such a link,
# and a TLS listener's one more (a TLS 1.3 handshake); without it, connecting
# to the proxy costs nothing, which favours clients that open many.
import asyncio, json, os, signal, socket, ssl, struct, sys, time

mode, arg, statefile = sys.argv[1], float(sys.argv[2]), sys.argv[3]
upstreams = [int(p.split("/")[0]) for p in sys.argv[4:]]
tls = [p.endswith("/tls") for p in sys.argv[4:]]
RATE = float(os.environ.get("PROXY_RATE") or 0)
HANDSHAKE = os.environ.get("PROXY_HANDSHAKE") == "1" and mode == "latency"
CHUNK = 64 * 1024
TLS_CTX = None
if any(tls):
    TLS_CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    TLS_CTX.load_cert_chain(os.environ["PROXY_TLS_CERT"], os.environ["PROXY_TLS_KEY"])
st = {"ports": [], "gen": 0, "accepted": 0, "reset": 0, "refused": 0}
armed = False
servers = {}  # index -> asyncio server

def save():
    tmp = statefile + ".tmp"
    with open(tmp, "w") as f:
        json.dump(st, f)
    os.replace(tmp, statefile)

def rst(writer):
    try:
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except Exception:
        pass
    writer.transport.abort()

class Conn:
    def __init__(self, writers):
        self.writers, self.bytes, self.dead = writers, 0, False
    def kill(self):
        self.dead = True
        for w in self.writers:
            rst(w)

async def pipe(reader, writer, conn):
    global armed
    delay = arg / 1000.0 if mode == "latency" else 0.0
    queue = asyncio.Queue(maxsize=64)

    async def read_side():
        global armed
        while not conn.dead:
            data = await reader.read(CHUNK)
            if data and mode == "reset":
                conn.bytes += len(data)
                if armed and conn.bytes >= arg:
                    armed = False
                    st["reset"] += 1
                    save()
                    conn.kill()
                    break
            await queue.put((time.monotonic(), data))
            if not data:
                break

    async def write_side():
        free = 0.0  # RATE: when the link is free for the next chunk
        while True:
            t, data = await queue.get()
            due = t + delay
            if RATE and data:
                due = max(due, free)
                free = max(due, time.monotonic()) + len(data) / RATE
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                break
            writer.write(data)
            await writer.drain()

    r = asyncio.ensure_future(read_side())
    w = asyncio.ensure_future(write_side())
    try:
        await r
    except Exception:
        conn.kill()
    if conn.dead:
        w.cancel()
    try:
        await w
    except BaseException:
        conn.kill()

def handler(upstream, is_tls):
    async def handle(creader, cwriter):
        st["accepted"] += 1
        save()
        if HANDSHAKE:
            await asyncio.sleep((4 if is_tls else 2) * arg / 1000.0)
        try:
            ureader, uwriter = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            rst(cwriter)
            return
        conn = Conn([cwriter, uwriter])
        await asyncio.gather(pipe(creader, uwriter, conn), pipe(ureader, cwriter, conn),
                             return_exceptions=True)
        for w in (cwriter, uwriter):
            try:
                w.close()
            except Exception:
                pass
    return handle

async def listen(i, port):
    servers[i] = await asyncio.start_server(handler(upstreams[i], tls[i]), "127.0.0.1", port, reuse_address=True,
                                            ssl=TLS_CTX if tls[i] else None)
    return servers[i].sockets[0].getsockname()[1]

refusing = None  # asyncio.Lock: one outage at a time

async def refuse_for(seconds):
    async with refusing:
        for s in servers.values():
            s.close()  # stop listening: new connections are refused
        st["refused"] += 1
        st["gen"] += 1
        save()
        await asyncio.sleep(seconds)
        for i, port in enumerate(st["ports"]):
            await listen(i, port)
        save()

async def main():
    global armed, refusing
    refusing = asyncio.Lock()
    loop = asyncio.get_running_loop()
    for i in range(len(upstreams)):
        st["ports"].append(await listen(i, 0))
    save()

    def on_usr1():
        global armed
        if mode == "reset":
            armed = True
            st["gen"] += 1
            save()
        elif mode == "refuse":
            asyncio.ensure_future(refuse_for(arg))
        else:
            st["gen"] += 1
            save()
    loop.add_signal_handler(signal.SIGUSR1, on_usr1)
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    await stop

asyncio.run(main())
