# Run: python3 docs/vectors/generate_compat.py
# Builds docs/vectors/grpc-websockets.json and docs/vectors/compression.json from the rules of
# docs/PROTOCOL.md appendices A and B (independent of the TypeScript codec).
import base64, gzip, json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))

def hx(b): return b.hex()
def grpcmsg(body, flags=0): return struct.pack(">BI", flags, len(body)) + body
def md(*entries): return [[n, v if isinstance(v, str) else {"hex": hx(v)}] for n, v in entries]
def block(*entries):
    return "".join(f"{n}: {v if isinstance(v, str) else base64.b64encode(v).decode()}\r\n" for n, v in entries).encode()
def mdframe(*entries):
    b = block(*entries)
    return struct.pack(">BI", 0x80, len(b)) + b

W = []
# ---- A.2 the header block (first client message)
def hb(desc, raw, metadata=None, error=None):
    v = dict(kind="header-block", description=desc, hex=hx(raw))
    if error: v["error"] = error
    else: v["metadata"] = metadata
    W.append(v)

hb("what @improbable-eng/grpc-web sends: repeated values joined with ', ', content-type and x-grpc-web added",
   b"x-user: alice\r\nx-trace-bin: AAEC, /w==\r\ncontent-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\n",
   md(("x-user", "alice"), ("x-trace-bin", bytes([0, 1, 2])), ("x-trace-bin", bytes([0xff])), ("content-type", "application/grpc-web+proto"), ("x-grpc-web", "1")))
hb("what nice-grpc-web sends: one line per value, binary values base64",
   b"x-tag: a\r\nx-tag: b\r\nx-blob-bin: 3q2+7w==\r\ncontent-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\n",
   md(("x-tag", "a"), ("x-tag", "b"), ("x-blob-bin", bytes.fromhex("deadbeef")), ("content-type", "application/grpc-web+proto"), ("x-grpc-web", "1")))
hb("an empty header block carries no metadata", b"", [])
hb("names are lowercased; spaces and tabs around values are dropped; a text value keeps its commas",
   b"X-Mixed-Case:\t  v1, v2 \t\r\ngrpc-timeout: 250m\r\n", md(("x-mixed-case", "v1, v2"), ("grpc-timeout", "250m")))
hb("bare LF line ends, empty lines and a missing final line end are accepted", b"a: 1\n\r\n\nb: 2", md(("a", "1"), ("b", "2")))
hb("an empty text value", b"x-empty:\r\n", md(("x-empty", "")))
hb("-bin values: unpadded and URL-alphabet base64 are accepted", b"k-bin: _-8\r\n", md(("k-bin", bytes([0xff, 0xef]))))
E = lambda m: dict(status="INTERNAL", match=m)
hb("a byte outside printable ASCII is an error", b"x: caf\xc3\xa9\r\n", error=E("not printable ASCII"))
hb("a line without a colon is an error", b"no-colon\r\n", error=E("is not \"name: value\""))
hb("a line starting with a colon (pseudo-header) is an error", b":path: /a.B/C\r\n", error=E("is not \"name: value\""))
hb("an invalid name character is an error", b"x y: 1\r\n", error=E("invalid character in metadata name"))
hb("a folded (continuation) line is an error", b"a: 1\r\n 2\r\n", error=E("folded line"))
hb("a -bin value that is not base64 is an error", b"k-bin: not base64!\r\n", error=E("is not base64"))
hb("a tab inside a text value is an error", b"x: a\tb\r\n", error=E("tab inside the value"))
hb("a CR not followed by LF is an error", b"a: 1\rb: 2\r\n", error=E("CR not followed by LF"))

# ---- A.3 client messages after the header block
def cm(desc, raw, message=None, error=None):
    v = dict(kind="client-message", description=desc, hex=hx(raw))
    if error: v["error"] = error
    else: v["message"] = message
    W.append(v)
req = b"\x0a\x05world"
cm("0x00 then a whole gRPC message", b"\x00" + grpcmsg(req), dict(type="data", dataHex=hx(grpcmsg(req))))
cm("0x00 then part of a message: the payloads form one byte stream", b"\x00" + grpcmsg(req)[:3], dict(type="data", dataHex=hx(grpcmsg(req)[:3])))
cm("0x00 alone: no bytes", b"\x00", dict(type="data", dataHex=""))
cm("0x01 alone: end of the client stream (half-close)", b"\x01", dict(type="end"))
cm("an empty WebSocket message is ignored", b"", dict(type="empty"))
cm("0x01 with more bytes is an error", b"\x01\x00", error=E("end-of-stream message with 1 extra bytes"))
cm("an unknown tag is an error", b"\x02abc", error=E("unknown message tag 0x02"))

# ---- A.4 metadata frames the server sends
def mf(desc, entries):
    W.append(dict(kind="metadata-frame", description=desc, metadata=md(*entries), hex=hx(mdframe(*entries))))
mf("response headers: content-type and custom metadata", [("content-type", "application/grpc-web+proto"), ("x-grpc-test-echo-initial", "test_initial_metadata_value")])
mf("trailers: status 0 and binary metadata in base64", [("grpc-status", "0"), ("x-grpc-test-echo-trailing-bin", bytes([0xab, 0xab, 0xab]))])
mf("trailers-only failure: status 5, percent-encoded message", [("grpc-status", "5"), ("grpc-message", "not found: caf%C3%A9")])
mf("empty response headers", [])

# ---- A.5 responses as the client reads them (WebSocket messages split anywhere)
def resp(desc, chunks, frames=None, error=None, maxMessageSize=4194304):
    v = dict(kind="response", description=desc, chunks=[hx(c) for c in chunks], maxMessageSize=maxMessageSize)
    if error: v["error"] = error
    else: v["frames"] = frames
    W.append(v)
hdr = mdframe(("content-type", "application/grpc-web+proto"))
res = b"\x0a\x0bhello world"
trl = mdframe(("grpc-status", "0"))
F_H = dict(type="metadata", metadata=md(("content-type", "application/grpc-web+proto")))
F_M = dict(type="message", compressed=False, dataHex=hx(res))
F_T = dict(type="metadata", metadata=md(("grpc-status", "0")))
resp("headers, one message, trailers: one WebSocket message each", [hdr, grpcmsg(res), trl], [F_H, F_M, F_T])
whole = hdr + grpcmsg(res) + trl
resp("the same bytes split at every third byte", [whole[i:i + 3] for i in range(0, len(whole), 3)], [F_H, F_M, F_T])
resp("a compressed message keeps its flag", [grpcmsg(b"xyz", 1)], [dict(type="message", compressed=True, dataHex=hx(b"xyz"))])
resp("a message over the client's limit", [grpcmsg(b"x" * 11)], error=dict(status="RESOURCE_EXHAUSTED", match="exceeds the limit of 10"), maxMessageSize=10)
resp("unknown frame flags", [struct.pack(">BI", 0x02, 0)], error=dict(status="INTERNAL", match="invalid gRPC-Web frame flags 0x2"))

# ---- A.6 worked example (also in PROTOCOL.md)
ex_client = [block(("grpc-timeout", "1S"), ("content-type", "application/grpc-web+proto"), ("x-grpc-web", "1")), b"\x00" + grpcmsg(req), b"\x01"]
ex_server = [hdr, grpcmsg(res), trl]
W.append(dict(kind="exchange", description="worked example: unary /helloworld.Greeter/SayHello with a 1 s deadline",
              path="/helloworld.Greeter/SayHello", client=[hx(m) for m in ex_client], server=[hx(m) for m in ex_server],
              requestMetadata=md(("grpc-timeout", "1S"), ("content-type", "application/grpc-web+proto"), ("x-grpc-web", "1")),
              requests=[hx(req)], frames=[F_H, F_M, F_T]))
fail = mdframe(("grpc-status", "5"), ("grpc-message", "not found"))
W.append(dict(kind="exchange", description="worked example: trailers-only failure, one metadata frame with the status",
              path="/helloworld.Greeter/SayHello", client=[hx(m) for m in ex_client], server=[hx(fail)],
              requestMetadata=md(("grpc-timeout", "1S"), ("content-type", "application/grpc-web+proto"), ("x-grpc-web", "1")),
              requests=[hx(req)], frames=[dict(type="metadata", metadata=md(("grpc-status", "5"), ("grpc-message", "not found")))]))

with open(os.path.join(HERE, "grpc-websockets.json"), "w") as f:
    json.dump(W, f, indent=1)
    f.write("\n")

# ---- B. compression
Z = []
text = b"hello hello hello hello hello hello hello hello"
gz = gzip.compress(text, mtime=0)
def cz(desc, stream, maxMessageSize, encoding="gzip", messages=None, error=None):
    v = dict(kind="compressed-message", description=desc, encoding=encoding, hex=hx(stream), maxMessageSize=maxMessageSize)
    if error: v["error"] = error
    else: v["messages"] = [hx(m) for m in messages]
    Z.append(v)
cz("a gzip-compressed message (flag 1) inflates to the original", grpcmsg(gz, 1), 4194304, messages=[text])
cz("compressed and uncompressed messages mix on one stream", grpcmsg(gz, 1) + grpcmsg(b"\x08\x01"), 4194304, messages=[text, b"\x08\x01"])
cz("the limit applies to the inflated size: exactly the limit passes", grpcmsg(gz, 1), len(text), messages=[text])
cz("one byte over the limit after inflating is RESOURCE_EXHAUSTED, although the compressed size fits",
   grpcmsg(gz, 1), len(text) - 1, error=dict(status="RESOURCE_EXHAUSTED", match="after decompression"))
big = gzip.compress(bytes(1 << 20), mtime=0)
cz("1 MiB of zeros in %d bytes against a 64 KiB limit" % len(big), grpcmsg(big, 1), 65536, error=dict(status="RESOURCE_EXHAUSTED", match="after decompression"))
cz("bytes that are not gzip are INTERNAL", grpcmsg(b"not gzip at all", 1), 4194304, error=dict(status="INTERNAL", match="gzip"))
cz("a compressed message on a call without grpc-encoding is INTERNAL", grpcmsg(gz, 1), 4194304, encoding="identity", error=dict(status="INTERNAL", match="no grpc-encoding"))

def ng(desc, grpcEncoding, grpcAcceptEncoding, accept, send, request=None, response=None, error=None):
    v = dict(kind="negotiation", description=desc, grpcEncoding=grpcEncoding, grpcAcceptEncoding=grpcAcceptEncoding, accept=accept, send=send)
    if error: v["error"] = error
    else: v.update(request=request, response=response)
    Z.append(v)
ng("no headers: identity both ways", None, None, ["gzip"], "gzip", "identity", "identity")
ng("the client compresses and accepts gzip", "gzip", "gzip", ["gzip"], None, "gzip", "gzip")
ng("sendCompression is used when the client accepts it", None, "identity, gzip", ["gzip"], "gzip", "identity", "gzip")
ng("a client that accepts only identity gets identity", "gzip", "identity", ["gzip"], "gzip", "gzip", "identity")
ng("a compressed request without grpc-accept-encoding: responses stay identity", "gzip", None, ["gzip"], None, "gzip", "identity")
ng("an encoding the server does not accept is UNIMPLEMENTED", "br", "br", ["gzip"], "gzip", error=dict(status="UNIMPLEMENTED", match="not supported"))
with open(os.path.join(HERE, "compression.json"), "w") as f:
    json.dump(Z, f, indent=1)
    f.write("\n")
