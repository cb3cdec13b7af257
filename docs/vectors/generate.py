# Run: python3 docs/vectors/generate.py
# Builds docs/vectors/grpc-ws-v1.json from the byte layouts of docs/PROTOCOL.md (independent of the TS encoder).
import json

T = dict(DATA=0, HEADERS=1, TRAILERS=2, RST_STREAM=3, SETTINGS=4, PING=5, GOAWAY=6, WINDOW_UPDATE=7)
DEFAULTS = dict(initialStreamWindow=262144, initialConnectionWindow=4194304, maxConcurrentStreams=100,
                maxFrameSize=16384, maxMessageSize=4194304, maxMetadataSize=16384)
KEYS = ["initialStreamWindow", "initialConnectionWindow", "maxConcurrentStreams", "maxFrameSize", "maxMessageSize", "maxMetadataSize"]

def hx(b): return b.hex()
def plen(p): return len(p.replace(" ", "")) // 2
def hdr(length, type_, flags, sid): return f"{length:06x} {type_:02x} {flags:02x} {sid:08x}"
def frame(type_, flags, sid, payload=""):
    t = T[type_] if isinstance(type_, str) else type_
    return hdr(plen(payload), t, flags, sid) + (" " + payload if payload else "")
def u16(v): return f"{v:04x}"
def u32(v): return f"{v:08x}"
def entry(name, value):
    n = name.encode() if isinstance(name, str) else name
    v = value.encode() if isinstance(value, str) else value
    return f"{u16(len(n))} {u32(len(v))} {hx(n)}" + (f" {hx(v)}" if v else "")
def block(*entries): return " ".join(entry(n, v) for n, v in entries)
def mdjson(*entries): return [[n, v if isinstance(v, str) else {"hex": hx(v)}] for n, v in entries]
def setting(i, v): return f"{u16(i)} {u32(v)}"
def settings(**kw): s = dict(DEFAULTS); s.update(kw); return s
def grpcmsg(body, flags=0): return f"{flags:02x} {u32(len(body))}" + (f" {hx(body)}" if body else "")

V = []
def ok(desc, hexs, frames, **extra): V.append(dict(kind="frames", description=desc, hex=hexs, frames=frames, **extra))
def bad(desc, hexs, code, match, **extra): V.append(dict(kind="frames", description=desc, hex=hexs, error=dict(code=code, match=match), **extra))
def F(type_, flags, sid, **fields): return dict(type=type_, flags=flags, streamId=sid, **fields)

# ---- SETTINGS
all6 = " ".join(setting(i + 1, DEFAULTS[k]) for i, k in enumerate(KEYS))
ok("SETTINGS with all six settings at their defaults", frame("SETTINGS", 0, 0, all6), [F("SETTINGS", 0, 0, settings=settings())])
ok("SETTINGS with an empty payload: every setting keeps its default", frame("SETTINGS", 0, 0), [F("SETTINGS", 0, 0, settings=settings())])
ok("SETTINGS: unknown ids 0, 7 and 0xffff are ignored",
   frame("SETTINGS", 0, 0, " ".join([setting(0, 5), setting(7, 1), setting(3, 10), setting(0xffff, 0xffffffff)])),
   [F("SETTINGS", 0, 0, settings=settings(maxConcurrentStreams=10))])
ok("SETTINGS: the id, not the position, names each setting (entries in reverse order)",
   frame("SETTINGS", 0, 0, " ".join([setting(6, 6000), setting(5, 5000), setting(4, 4000), setting(3, 3), setting(2, 2000), setting(1, 1000)])),
   [F("SETTINGS", 0, 0, settings=settings(initialStreamWindow=1000, initialConnectionWindow=2000, maxConcurrentStreams=3, maxFrameSize=4000, maxMessageSize=5000, maxMetadataSize=6000))])
ok("SETTINGS: a repeated id takes its last value", frame("SETTINGS", 0, 0, setting(1, 1000) + " " + setting(1, 2000)),
   [F("SETTINGS", 0, 0, settings=settings(initialStreamWindow=2000))])
ok("SETTINGS at the edges of every range",
   frame("SETTINGS", 0, 0, " ".join([setting(1, 1), setting(2, 0x7fffffff), setting(3, 0), setting(4, 1024), setting(5, 0xffffffff), setting(6, 0)])),
   [F("SETTINGS", 0, 0, settings=settings(initialStreamWindow=1, initialConnectionWindow=0x7fffffff, maxConcurrentStreams=0, maxFrameSize=1024, maxMessageSize=0xffffffff, maxMetadataSize=0))])
ok("SETTINGS: largest MAX_FRAME_SIZE 2^24-1", frame("SETTINGS", 0, 0, setting(4, 0xffffff)), [F("SETTINGS", 0, 0, settings=settings(maxFrameSize=0xffffff))])
bad("SETTINGS: INITIAL_STREAM_WINDOW 0", frame("SETTINGS", 0, 0, setting(1, 0)), "FLOW_CONTROL_ERROR", "initialStreamWindow")
bad("SETTINGS: INITIAL_STREAM_WINDOW 2^31", frame("SETTINGS", 0, 0, setting(1, 0x80000000)), "FLOW_CONTROL_ERROR", "initialStreamWindow")
bad("SETTINGS: INITIAL_CONNECTION_WINDOW 0", frame("SETTINGS", 0, 0, setting(2, 0)), "FLOW_CONTROL_ERROR", "initialConnectionWindow")
bad("SETTINGS: INITIAL_CONNECTION_WINDOW 2^32-1", frame("SETTINGS", 0, 0, setting(2, 0xffffffff)), "FLOW_CONTROL_ERROR", "initialConnectionWindow")
bad("SETTINGS: MAX_FRAME_SIZE 1023 is below the minimum", frame("SETTINGS", 0, 0, setting(4, 1023)), "PROTOCOL_ERROR", "maxFrameSize")
bad("SETTINGS: MAX_FRAME_SIZE 2^24 does not fit the length field", frame("SETTINGS", 0, 0, setting(4, 0x1000000)), "PROTOCOL_ERROR", "maxFrameSize")
bad("SETTINGS: payload of 5 bytes is not a multiple of 6", frame("SETTINGS", 0, 0, "0001 00000001"[:-2]), "FRAME_SIZE_ERROR", "SETTINGS frame has invalid payload length 5")
bad("SETTINGS: payload of 7 bytes", frame("SETTINGS", 0, 0, setting(1, 1000) + " 00"), "FRAME_SIZE_ERROR", "invalid payload length 7")
bad("SETTINGS with the ACK-like flag 0x1 (SETTINGS has no flags)", frame("SETTINGS", 1, 0), "PROTOCOL_ERROR", "SETTINGS frame has invalid flags 0x1")
bad("SETTINGS on stream 1", frame("SETTINGS", 0, 1), "PROTOCOL_ERROR", "SETTINGS frame must have stream id 0")

# ---- HEADERS
req = [(":path", "/grpc.testing.TestService/UnaryCall"), ("grpc-timeout", "1S"), ("authorization", "Bearer t0k3n"), ("trace-bin", bytes([0, 1, 0xfe, 0xff]))]
ok("HEADERS opening stream 1: :path first, grpc-timeout, text and binary metadata", frame("HEADERS", 0, 1, block(*req)), [F("HEADERS", 0, 1, metadata=mdjson(*req))])
req2 = [(":path", "/a.B/C")]
ok("HEADERS with END_STREAM: a request without messages on stream 3", frame("HEADERS", 1, 3, block(*req2)), [F("HEADERS", 1, 3, metadata=mdjson(*req2))])
ok("HEADERS with an empty metadata block (a response without metadata)", frame("HEADERS", 0, 1), [F("HEADERS", 0, 1, metadata=[])])
resp = [("x-user", "alice"), ("x-user", "bob"), ("empty", ""), ("empty-bin", b""), ("a_b.c-9", " !~"), ("raw-bin", "héllo\x00".encode())]
ok("HEADERS (response): repeated names keep their order, empty values, name characters a-z 0-9 - _ ., printable edges 0x20 and 0x7E, raw UTF-8 and NUL in a -bin value",
   frame("HEADERS", 0, 1, block(*resp)), [F("HEADERS", 0, 1, metadata=mdjson(*resp))])
ok("HEADERS on the largest stream id 2^31-1", frame("HEADERS", 0, 0x7fffffff, block(*req2)), [F("HEADERS", 0, 0x7fffffff, metadata=mdjson(*req2))])
bad("HEADERS on stream 0", frame("HEADERS", 0, 0, block(*req2)), "PROTOCOL_ERROR", "HEADERS frame must not have stream id 0")
bad("HEADERS with flag 0x4", frame("HEADERS", 4, 1, block(*req2)), "PROTOCOL_ERROR", "HEADERS frame has invalid flags 0x4")
bad("HEADERS with flags 0x21 (END_STREAM plus an undefined bit)", frame("HEADERS", 0x21, 1, block(*req2)), "PROTOCOL_ERROR", "invalid flags 0x21")
# malformed metadata blocks
bad("metadata: truncated entry header (5 of 6 bytes)", frame("HEADERS", 0, 1, "0001 00000000"[:-2]), "PROTOCOL_ERROR", "truncated entry header at byte 0")
bad("metadata: truncated entry header after a valid entry", frame("HEADERS", 0, 1, block(("a", "b")) + " 0001 00"), "PROTOCOL_ERROR", "truncated entry header at byte 8")
bad("metadata: empty name", frame("HEADERS", 0, 1, "0000 00000001 41"), "PROTOCOL_ERROR", "empty name")
bad("metadata: uppercase letter in a name", frame("HEADERS", 0, 1, block(("X-User", "a"))), "PROTOCOL_ERROR", "invalid byte 0x58 in name")
bad("metadata: space in a name", frame("HEADERS", 0, 1, block(("a b", "c"))), "PROTOCOL_ERROR", "invalid byte 0x20 in name")
bad("metadata: ':' after the first byte of a name", frame("HEADERS", 0, 1, block(("a:b", "c"))), "PROTOCOL_ERROR", "invalid byte 0x3a in name")
bad("metadata: non-ASCII byte 0xc3 in a name", frame("HEADERS", 0, 1, block(("caf\u00e9".encode(), "c"))), "PROTOCOL_ERROR", "invalid byte 0xc3 in name")
bad("metadata: NUL in a name", frame("HEADERS", 0, 1, block((b"a\x00", "c"))), "PROTOCOL_ERROR", "invalid byte 0x0 in name")
bad("metadata: newline in a text value", frame("HEADERS", 0, 1, block(("a", "x\ny"))), "PROTOCOL_ERROR", "value of a has non-printable byte 0xa")
bad("metadata: DEL 0x7f in a text value", frame("HEADERS", 0, 1, block(("a", "\x7f"))), "PROTOCOL_ERROR", "non-printable byte 0x7f")
bad("metadata: UTF-8 in a text value (only -bin values may carry such bytes)", frame("HEADERS", 0, 1, block(("a", "\u00e9".encode()))), "PROTOCOL_ERROR", "non-printable byte 0xc3")
bad("metadata: value length runs past the end of the block", frame("HEADERS", 0, 1, "0001 00000005 61 6263"), "PROTOCOL_ERROR", "entry of 6 bytes overruns the block")
bad("metadata: value length 2^32-1", frame("HEADERS", 0, 1, "0001 ffffffff 61"), "PROTOCOL_ERROR", "overruns the block")
bad("metadata: name length runs past the end of the block", frame("HEADERS", 0, 1, "ffff 00000000 6162"), "PROTOCOL_ERROR", "entry of 65535 bytes overruns the block")
bad("metadata: malformed TRAILERS block", frame("TRAILERS", 0, 1, block(("grpc-status", "0")) + " 0000"), "PROTOCOL_ERROR", "truncated entry header")

# ---- DATA
body = bytes([0x08, 0x96, 0x01])
ok("DATA carrying one whole gRPC message (flags 0, length 3)", frame("DATA", 0, 1, grpcmsg(body)), [F("DATA", 0, 1, payloadHex=grpcmsg(body).replace(" ", ""))])
ok("DATA with END_STREAM and no payload (half-close)", frame("DATA", 1, 1), [F("DATA", 1, 1, payloadHex="")])
ok("DATA with END_STREAM and an empty gRPC message", frame("DATA", 1, 5, grpcmsg(b"")), [F("DATA", 1, 5, payloadHex="0000000000")])
ok("DATA payloads split a message at any byte: the prefix across two frames", frame("DATA", 0, 1, "00 0000") + " " + frame("DATA", 0, 1, "00 02 abcd"),
   [F("DATA", 0, 1, payloadHex="000000"), F("DATA", 0, 1, payloadHex="0002abcd")])
ok("DATA payload exactly at maxFrameSize 1024", frame("DATA", 0, 1, "00" * 1024), [F("DATA", 0, 1, payloadHex="00" * 1024)], maxFrameSize=1024)
bad("DATA payload one byte over maxFrameSize 1024 (checked before the payload is present)", hdr(1025, 0, 0, 1), "FRAME_SIZE_ERROR", "DATA payload of 1025 bytes exceeds max frame size 1024", maxFrameSize=1024)
bad("DATA length 2^24-1 over the default maxFrameSize 16384", hdr(0xffffff, 0, 0, 1), "FRAME_SIZE_ERROR", "exceeds max frame size 16384")
bad("DATA on stream 0", frame("DATA", 0, 0, "00"), "PROTOCOL_ERROR", "DATA frame must not have stream id 0")
bad("DATA with the reserved stream id bit set", frame("DATA", 0, 0x80000001, "00"), "PROTOCOL_ERROR", "DATA frame has the reserved stream id bit set")
bad("DATA with flag 0x8 (PADDED does not exist here)", frame("DATA", 8, 1, "00"), "PROTOCOL_ERROR", "DATA frame has invalid flags 0x8")
bad("DATA with flag 0x80", frame("DATA", 0x80, 1), "PROTOCOL_ERROR", "invalid flags 0x80")

# ---- TRAILERS
tr = [("grpc-status", "0")]
ok("TRAILERS with grpc-status 0", frame("TRAILERS", 0, 1, block(*tr)), [F("TRAILERS", 0, 1, metadata=mdjson(*tr))])
tr2 = [("grpc-status", "5"), ("grpc-message", "caf%C3%A9 100%25 not found"), ("grpc-status-details-bin", bytes([0x08, 0x05, 0x12, 0x00])), ("x-trailer", "t")]
ok("TRAILERS: status 5, percent-encoded grpc-message, raw grpc-status-details-bin, custom trailer", frame("TRAILERS", 0, 7, block(*tr2)), [F("TRAILERS", 0, 7, metadata=mdjson(*tr2))])
bad("TRAILERS with END_STREAM set (TRAILERS has no flags: it always ends the stream)", frame("TRAILERS", 1, 1, block(*tr)), "PROTOCOL_ERROR", "TRAILERS frame has invalid flags 0x1")
bad("TRAILERS on stream 0", frame("TRAILERS", 0, 0, block(*tr)), "PROTOCOL_ERROR", "TRAILERS frame must not have stream id 0")

# ---- RST_STREAM
ok("RST_STREAM CANCEL (8) on stream 1", frame("RST_STREAM", 0, 1, u32(8)), [F("RST_STREAM", 0, 1, code=8)])
ok("RST_STREAM REFUSED_STREAM (7) on stream 9", frame("RST_STREAM", 0, 9, u32(7)), [F("RST_STREAM", 0, 9, code=7)])
ok("RST_STREAM with an unknown code is still well-formed", frame("RST_STREAM", 0, 1, u32(0xdeadbeef)), [F("RST_STREAM", 0, 1, code=0xdeadbeef)])
bad("RST_STREAM with a 3-byte payload", frame("RST_STREAM", 0, 1, "000008"), "FRAME_SIZE_ERROR", "RST_STREAM frame has invalid payload length 3")
bad("RST_STREAM with a 5-byte payload", frame("RST_STREAM", 0, 1, "00000008 00"), "FRAME_SIZE_ERROR", "RST_STREAM frame has invalid payload length 5")
bad("RST_STREAM on stream 0", frame("RST_STREAM", 0, 0, u32(8)), "PROTOCOL_ERROR", "RST_STREAM frame must not have stream id 0")
bad("RST_STREAM with flag 0x1", frame("RST_STREAM", 1, 1, u32(8)), "PROTOCOL_ERROR", "RST_STREAM frame has invalid flags 0x1")

# ---- PING
ok("PING with opaque data", frame("PING", 0, 0, "0102030405060708"), [F("PING", 0, 0, payloadHex="0102030405060708")])
ok("PING ACK echoes the data", frame("PING", 1, 0, "0102030405060708"), [F("PING", 1, 0, payloadHex="0102030405060708")])
bad("PING with 7 bytes", frame("PING", 0, 0, "01020304050607"), "FRAME_SIZE_ERROR", "PING frame has invalid payload length 7")
bad("PING with 9 bytes", frame("PING", 0, 0, "010203040506070809"), "FRAME_SIZE_ERROR", "PING frame has invalid payload length 9")
bad("PING on stream 1", frame("PING", 0, 1, "0102030405060708"), "PROTOCOL_ERROR", "PING frame must have stream id 0, got 1")
bad("PING with flag 0x2", frame("PING", 2, 0, "0102030405060708"), "PROTOCOL_ERROR", "PING frame has invalid flags 0x2")
bad("PING with the reserved bit set on stream 0 (reserved bit is checked first)", frame("PING", 0, 0x80000000, "0102030405060708"), "PROTOCOL_ERROR", "reserved stream id bit")

# ---- GOAWAY
ok("GOAWAY NO_ERROR, last stream 5, no debug data", frame("GOAWAY", 0, 0, u32(5) + " " + u32(0)), [F("GOAWAY", 0, 0, lastStreamId=5, code=0, debug="")])
ok("GOAWAY PROTOCOL_ERROR with UTF-8 debug text", frame("GOAWAY", 0, 0, u32(0) + " " + u32(1) + " " + hx("bad frame \u2014 bye".encode())),
   [F("GOAWAY", 0, 0, lastStreamId=0, code=1, debug="bad frame \u2014 bye")])
ok("GOAWAY: the reserved bit of last-stream-id is ignored", frame("GOAWAY", 0, 0, u32(0x80000003) + " " + u32(0)), [F("GOAWAY", 0, 0, lastStreamId=3, code=0, debug="")])
ok("GOAWAY: invalid UTF-8 in debug data decodes to U+FFFD", frame("GOAWAY", 0, 0, u32(1) + " " + u32(0) + " 61ff62"), [F("GOAWAY", 0, 0, lastStreamId=1, code=0, debug="a\ufffdb")])
bad("GOAWAY with 7 bytes", frame("GOAWAY", 0, 0, "00000000 000000"), "FRAME_SIZE_ERROR", "GOAWAY frame has invalid payload length 7")
bad("GOAWAY on stream 1", frame("GOAWAY", 0, 1, u32(0) + u32(0)), "PROTOCOL_ERROR", "GOAWAY frame must have stream id 0, got 1")
bad("GOAWAY with flag 0x1", frame("GOAWAY", 1, 0, u32(0) + u32(0)), "PROTOCOL_ERROR", "GOAWAY frame has invalid flags 0x1")

# ---- WINDOW_UPDATE
ok("WINDOW_UPDATE on the connection (stream 0)", frame("WINDOW_UPDATE", 0, 0, u32(65536)), [F("WINDOW_UPDATE", 0, 0, increment=65536)])
ok("WINDOW_UPDATE on stream 1, increment 1", frame("WINDOW_UPDATE", 0, 1, u32(1)), [F("WINDOW_UPDATE", 0, 1, increment=1)])
ok("WINDOW_UPDATE with the largest increment 2^31-1", frame("WINDOW_UPDATE", 0, 3, u32(0x7fffffff)), [F("WINDOW_UPDATE", 0, 3, increment=0x7fffffff)])
bad("WINDOW_UPDATE with increment 0 on the connection", frame("WINDOW_UPDATE", 0, 0, u32(0)), "PROTOCOL_ERROR", "WINDOW_UPDATE increment 0 is outside 1..2^31-1")
bad("WINDOW_UPDATE with increment 0 on a stream", frame("WINDOW_UPDATE", 0, 1, u32(0)), "PROTOCOL_ERROR", "increment 0 is outside")
bad("WINDOW_UPDATE with increment 2^31", frame("WINDOW_UPDATE", 0, 1, u32(0x80000000)), "PROTOCOL_ERROR", "increment 2147483648 is outside")
bad("WINDOW_UPDATE with 3 bytes", frame("WINDOW_UPDATE", 0, 1, "000001"), "FRAME_SIZE_ERROR", "WINDOW_UPDATE frame has invalid payload length 3")
bad("WINDOW_UPDATE with 5 bytes", frame("WINDOW_UPDATE", 0, 1, "0000000100"), "FRAME_SIZE_ERROR", "invalid payload length 5")
bad("WINDOW_UPDATE with flag 0x1", frame("WINDOW_UPDATE", 1, 0, u32(1)), "PROTOCOL_ERROR", "WINDOW_UPDATE frame has invalid flags 0x1")
bad("WINDOW_UPDATE with the reserved stream id bit", frame("WINDOW_UPDATE", 0, 0x80000000, u32(1)), "PROTOCOL_ERROR", "reserved stream id bit")

# ---- framing of a message
ok("an empty WebSocket message holds no frames", "", [])
client_hello = frame("SETTINGS", 0, 0, all6) + " " + frame("HEADERS", 0, 1, block(*req2)) + " " + frame("DATA", 1, 1, grpcmsg(body))
ok("several frames in one message: SETTINGS, HEADERS, DATA with END_STREAM",
   client_hello, [F("SETTINGS", 0, 0, settings=settings()), F("HEADERS", 0, 1, metadata=mdjson(*req2)), F("DATA", 1, 1, payloadHex=grpcmsg(body).replace(" ", ""))])
ok("frames of two streams interleaved in one message",
   " ".join([frame("DATA", 0, 1, "00"), frame("DATA", 0, 3, "0000"), frame("WINDOW_UPDATE", 0, 0, u32(3)), frame("DATA", 1, 1)]),
   [F("DATA", 0, 1, payloadHex="00"), F("DATA", 0, 3, payloadHex="0000"), F("WINDOW_UPDATE", 0, 0, increment=3), F("DATA", 1, 1, payloadHex="")])
bad("truncated frame header: 1 byte", "00", "FRAME_SIZE_ERROR", "truncated frame header: 1 of 9 bytes")
bad("truncated frame header: 8 bytes", "000000 00 00 000000", "FRAME_SIZE_ERROR", "truncated frame header: 8 of 9 bytes")
bad("a valid frame followed by 3 stray bytes (no frame spans messages)", frame("PING", 0, 0, "0000000000000000") + " 000000", "FRAME_SIZE_ERROR", "truncated frame header: 3 of 9 bytes")
bad("truncated payload: DATA declares 5 bytes, 3 present", hdr(5, 0, 0, 1) + " 000000", "FRAME_SIZE_ERROR", "truncated DATA frame: payload of 5 bytes, 3 present")
bad("truncated payload: the last frame of a message", frame("PING", 0, 0, "0000000000000000") + " " + hdr(4, 3, 0, 1) + " 0000", "FRAME_SIZE_ERROR", "truncated RST_STREAM frame")
bad("unknown frame type 0x8", hdr(0, 8, 0, 0), "PROTOCOL_ERROR", "unknown frame type 0x8")
bad("unknown frame type 0xff (checked before the length)", hdr(0xffffff, 0xff, 0, 1), "PROTOCOL_ERROR", "unknown frame type 0xff")

# ---- gRPC message prefix (DATA payloads of one stream, concatenated)
M = []
def msg(desc, chunks, maxMessageSize=4194304, messages=None, partial=0, error=None):
    d = dict(kind="message", description=desc, maxMessageSize=maxMessageSize, chunks=chunks)
    if error: d["error"] = error
    else: d["messages"] = messages; d["partial"] = partial
    M.append(d)
msg("one message in one chunk", ["00 00000003 089601"], messages=["089601"])
msg("two messages in one chunk", ["00 00000001 aa 00 00000002 bbcc"], messages=["aa", "bbcc"])
msg("an empty message", ["00 00000000"], messages=[""])
msg("a message split inside its prefix and inside its body", ["00 0000", "00 03 08", "96", "01"], messages=["089601"])
msg("a prefix split at every byte", ["00", "00", "00", "00", "02", "ab", "cd"], messages=["abcd"])
msg("the end of one message and the start of the next in one chunk", ["00 00000002 aa", "bb 00 00", "000001 cc"], messages=["aabb", "cc"])
msg("a message exactly at maxMessageSize", ["00 00000004 01020304"], maxMessageSize=4, messages=["01020304"])
msg("a message begun but not finished leaves partial bytes (an error at END_STREAM)", ["00 00000004 0102"], messages=[], partial=7)
msg("half a prefix is partial too", ["00 0000"], messages=[], partial=3)
msg("one byte over maxMessageSize: RESOURCE_EXHAUSTED as soon as the prefix is read", ["00 00000005"], maxMessageSize=4, error=dict(status="RESOURCE_EXHAUSTED", match="message of 5 bytes exceeds the limit of 4 bytes"))
msg("a 4 GiB length is refused before any allocation", ["00 ffffffff"], error=dict(status="RESOURCE_EXHAUSTED", match="4294967295"))
msg("compressed flag without a negotiated grpc-encoding: INTERNAL", ["01 00000001 aa"], error=dict(status="INTERNAL", match="compressed"))
msg("undefined message flag 0x02: INTERNAL", ["02 00000000"], error=dict(status="INTERNAL", match="invalid message flags 0x2"))
msg("an error in the second message of a chunk", ["00 00000000 80 00000000"], error=dict(status="INTERNAL", match="invalid message flags 0x80"))

# ---- grpc-timeout
TO = []
# An invalid value fails the call with status INVALID_ARGUMENT (section 3.2).
def to(value, ms=None): TO.append(dict(kind="timeout", description=f"grpc-timeout {json.dumps(value)}", value=value, ms=ms) if ms is not None else dict(kind="timeout", description=f"invalid grpc-timeout {json.dumps(value)}", value=value, invalid=True, status="INVALID_ARGUMENT"))
to("1H", 3600000); to("2M", 120000); to("30S", 30000); to("100m", 100); to("1500u", 1.5); to("250000n", 0.25)
to("0n", 0); to("99999999H", 99999999 * 3600000); to("00000001S", 1000); to("0m", 0)
for bad_ in ["", "1", "S", "123456789S", "-1S", "+1S", "1.5S", "1s", "1h", "1 S", " 1S", "1S ", "1SS", "1x", "\uff11S", "0x1S", "1e3m"]:
    to(bad_)

# ---- grpc-message percent-encoding
GM = []
def gm(desc, decoded, encoded, both=True):
    GM.append(dict(kind="grpc-message", description=desc, decoded=decoded, encoded=encoded, roundTrip=both))
gm("plain printable ASCII is sent as is", "hello world ~!", "hello world ~!")
gm("'%' itself is escaped", "100% done", "100%25 done")
gm("control characters are escaped", "a\nb\tc\x7f", "a%0Ab%09c%7F")
gm("UTF-8 of U+00E9 is escaped byte by byte, uppercase hex", "caf\u00e9", "caf%C3%A9")
gm("CJK", "\u65e5\u672c", "%E6%97%A5%E6%9C%AC")
gm("a character outside the BMP (4 UTF-8 bytes)", "\U0001F600!", "%F0%9F%98%80!")
gm("empty message", "", "")
gm("lowercase hex is accepted when decoding", "caf\u00e9", "caf%c3%a9", both=False)
gm("escaping a printable character is accepted when decoding", "A", "%41", both=False)
gm("a lone '%' at the end is kept literally", "a%", "a%", both=False)
gm("'%' followed by one hex digit at the end is kept literally", "a%4", "a%4", both=False)
gm("'%' followed by non-hex is kept literally", "%zz%4g", "%zz%4g", both=False)
gm("'%%41': the first '%' is literal, the rest decodes", "%A", "%%41", both=False)
gm("a byte that is not valid UTF-8 decodes to U+FFFD", "a\ufffdb", "a%FFb", both=False)
gm("a truncated UTF-8 sequence decodes to U+FFFD", "x\ufffd", "x%E2%82", both=False)

out = V + M + TO + GM
open(__import__("os").path.join(__import__("os").path.dirname(__file__), "grpc-ws-v1.json"), "w").write(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
print(len(V), len(M), len(TO), len(GM), len(out))

# ---- worked example of PROTOCOL.md (also checked as vectors)
ex_req = [(":path", "/helloworld.Greeter/SayHello"), ("grpc-timeout", "1S")]
ex = {
 "c1": frame("SETTINGS", 0, 0, all6),
 "s1": frame("SETTINGS", 0, 0, all6),
 "c2": frame("HEADERS", 0, 1, block(*ex_req)) + " " + frame("DATA", 1, 1, grpcmsg(b"\x0a\x05world")),
 "s2": frame("HEADERS", 0, 1) + " " + frame("DATA", 0, 1, grpcmsg(b"\x0a\x0bhello world")) + " " + frame("TRAILERS", 0, 1, block(("grpc-status", "0"))),
}
ex_frames = {
 "c1": [F("SETTINGS", 0, 0, settings=settings())],
 "s1": [F("SETTINGS", 0, 0, settings=settings())],
 "c2": [F("HEADERS", 0, 1, metadata=mdjson(*ex_req)), F("DATA", 1, 1, payloadHex=grpcmsg(b"\x0a\x05world").replace(" ", ""))],
 "s2": [F("HEADERS", 0, 1, metadata=[]), F("DATA", 0, 1, payloadHex=grpcmsg(b"\x0a\x0bhello world").replace(" ", "")), F("TRAILERS", 0, 1, metadata=[["grpc-status", "0"]])],
}
names = {"c1": "worked example, message 1 (client): SETTINGS", "s1": "worked example, message 2 (server): SETTINGS", "c2": "worked example, message 3 (client): request HEADERS and DATA with END_STREAM", "s2": "worked example, message 4 (server): response HEADERS, DATA, TRAILERS"}
EX = [dict(kind="frames", description=names[k], hex=ex[k], frames=ex_frames[k]) for k in ["c1", "s1", "c2", "s2"]]
fail = [("grpc-status", "5"), ("grpc-message", "not found")]
EX.append(dict(kind="frames", description="worked example: trailers-only failure (status 5)", hex=frame("TRAILERS", 0, 1, block(*fail)), frames=[F("TRAILERS", 0, 1, metadata=mdjson(*fail))]))
print("fail", frame("TRAILERS", 0, 1, block(*fail)))
# ---- access control (PROTOCOL.md 1.3): bearer subprotocol and refusal close codes
import base64
BR = []
def bearer(desc, token):
    enc = base64.urlsafe_b64encode(token.encode("utf-8")).decode().rstrip("=")
    BR.append(dict(kind="bearer", description=desc, token=token, subprotocol="grpc-ws.bearer." + enc))
def bearer_bad(desc, protocol): BR.append(dict(kind="bearer", description=desc, subprotocol=protocol, invalid=True))
bearer("bearer token abc", "abc")
bearer("bearer token whose base64 has + and / (base64url: - and _)", "\u00fb\u00ff>?>")
bearer("bearer token: a JWT", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln")
bearer("bearer token with spaces, commas and non-ASCII", "a b, ключ")
bearer_bad("bearer subprotocol with an empty token", "grpc-ws.bearer.")
bearer_bad("bearer subprotocol with standard base64 (+)", "grpc-ws.bearer.YW+j")
bearer_bad("bearer subprotocol with padding", "grpc-ws.bearer.YWJj==")
bearer_bad("bearer subprotocol whose bytes are not UTF-8", "grpc-ws.bearer._w")
for code, status in [(4016, "UNAUTHENTICATED"), (4007, "PERMISSION_DENIED"), (4013, "INTERNAL"), (4014, "UNAVAILABLE")]:
    BR.append(dict(kind="refusal-close", description=f"close code {code} is a refusal with {status}", closeCode=code, status=status))
for code in [4000, 4017, 1006, 1000]:
    BR.append(dict(kind="refusal-close", description=f"close code {code} is no refusal", closeCode=code))

out = V + EX + M + TO + GM + BR
open(__import__("os").path.join(__import__("os").path.dirname(__file__), "grpc-ws-v1.json"), "w").write(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
print(len(out))
for k in ["c1", "s1", "c2", "s2"]: print(k, ex[k])
