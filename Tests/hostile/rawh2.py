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
    def __init__(self, port, host="127.0.0.1"):
        ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection((host, port), timeout=10)
        self.s = ctx.wrap_socket(raw, server_hostname="localhost")
        assert self.s.selected_alpn_protocol() == "h2", self.s.selected_alpn_protocol()
        self.port = port; self.buf = b""
        self.s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + self.frame(4, 0, 0, b""))
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
                    if kind == 4 and not flags & 1: self.send(self.frame(4, 1, 0, b""))
                    if kind == 6 and not flags & 1: self.send(self.frame(6, 1, 0, payload))
                except OSError:
                    pass
                frames.append((kind, flags, sid, payload))
        return frames
    def close(self):
        try: self.s.close()
        except OSError: pass
