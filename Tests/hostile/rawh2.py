"""A minimal raw HTTP/2 client over TLS for the hostile tests (test_h2.py): literal HPACK, no Huffman,
frames sent exactly as written (resets, GOAWAY, streams past the limit)."""
import socket, ssl, struct, time

def _int(n, prefix):
    lim = (1 << prefix) - 1
    if n < lim: return bytes([n])
    out = [lim]; n -= lim
    while n >= 128: out.append((n & 127) | 128); n >>= 7
    out.append(n); return bytes(out)

def hpack(headers):
    out = b""
    for k, v in headers:
        k = k.encode(); v = v.encode()
        out += b"\x00" + _int(len(k), 7) + k + _int(len(v), 7) + v
    return out

class H2:
    PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

    def __init__(self, port, host="127.0.0.1", preface=True):
        """A TLS connection with ALPN h2; `preface`: send the client preface and SETTINGS too."""
        ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection((host, port), timeout=10)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s = ctx.wrap_socket(raw, server_hostname="localhost")
        assert self.s.selected_alpn_protocol() == "h2", self.s.selected_alpn_protocol()
        self.port = port; self.buf = b""
        self.acks = preface  # a client that has not sent its preface must not send frames either
        if preface:
            self.s.sendall(self.PREFACE + self.frame(4, 0, 0, b""))
        self.next_id = 1
    @staticmethod
    def frame(kind, flags, stream, payload):
        return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload
    def send(self, data): self.s.sendall(data)
    def get(self, path, end=True, extra=()):
        sid = self.next_id; self.next_id += 2
        h = [(":method", "GET"), (":scheme", "https"), (":path", path), (":authority", f"127.0.0.1:{self.port}")] + list(extra)
        self.send(self.frame(1, 0x4 | (0x1 if end else 0), sid, hpack(h)))
        return sid
    def request(self, method, path, end_headers=True, end_stream=True, extra=()):
        """A HEADERS frame for a new stream (flags exactly as asked); its id."""
        sid = self.next_id; self.next_id += 2
        h = [(":method", method), (":scheme", "https"), (":path", path), (":authority", f"127.0.0.1:{self.port}")] + list(extra)
        flags = (0x4 if end_headers else 0) | (0x1 if end_stream else 0)
        self.send(self.frame(1, flags, sid, hpack(h)))
        return sid
    def data(self, sid, payload, end=False): self.send(self.frame(0, 0x1 if end else 0, sid, payload))
    def wait_closed(self, seconds):
        """Seconds until the server closed the connection (frames in between are read and kept in
        self.seen), or None if it was still open after `seconds`."""
        started = time.monotonic(); self.seen = getattr(self, "seen", [])
        while time.monotonic() - started < seconds:
            frames = self.read_frames(min(0.5, seconds - (time.monotonic() - started)))
            self.seen += frames
            if any(kind == "closed" for kind, *_ in frames):
                return time.monotonic() - started
        return None
    def rst(self, sid, code=8): self.send(self.frame(3, 0, sid, struct.pack(">I", code)))
    def goaway(self, last=0, code=0): self.send(self.frame(7, 0, 0, struct.pack(">II", last, code)))
    def read_frames(self, seconds=1.0):
        """Frames read within `seconds` (acks SETTINGS and PING); [] when the connection closed."""
        frames = []; end = time.time() + seconds
        self.s.settimeout(0.05)
        while time.time() < end:
            try:
                chunk = self.s.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except (ConnectionError, ssl.SSLError, OSError):
                frames.append(("closed", 0, 0, b"")); break
            if not chunk:
                frames.append(("closed", 0, 0, b"")); break
            self.buf += chunk
            while len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + n: break
                kind, flags = self.buf[3], self.buf[4]; sid = int.from_bytes(self.buf[5:9], "big") & 0x7fffffff
                payload = self.buf[9:9 + n]; self.buf = self.buf[9 + n:]
                try:  # acks; the server may have closed the connection already
                    if not self.acks: pass
                    elif kind == 4 and not flags & 1: self.send(self.frame(4, 1, 0, b""))
                    elif kind == 6 and not flags & 1: self.send(self.frame(6, 1, 0, payload))
                except OSError:
                    pass
                frames.append((kind, flags, sid, payload))
        return frames
    def close(self):
        try: self.s.close()
        except OSError: pass
