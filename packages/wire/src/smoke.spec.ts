import { test, expect } from "vitest";
import { Session, createTrailers, parseTrailers, Status } from "@grpc-ws/wire";

test("smoke", async () => {
  let client!: Session, server!: Session;
  const deliver = (to: () => Session) => (m: Uint8Array) => { const copy = m.slice(); setImmediate(() => to().receive(copy)); return true; };
  const got: string[] = [];
  server = new Session({ send: deliver(() => client), close: () => {} }, {
    role: "server", settings: { initialStreamWindow: 1024 },
    onStream(stream, path, headers) {
      got.push(path); let sent = false;
      stream.events = {
        onReadable() {
          if (!sent) { sent = true; stream.sendHeaders([["x", "y"]]); }
          let m; while ((m = stream.read())) { stream.write(m); stream.write(m); }
          if (stream.remoteEnded) { stream.sendTrailers(createTrailers(Status.OK)); }
        },
      };
    },
  });
  let ready!: () => void; const p = new Promise<void>(r => ready = r);
  client = new Session({ send: deliver(() => server), close: () => {} }, { role: "client", onSettings: () => ready() });
  await p;
  const msgs: number[] = []; let trailers: any;
  const done = new Promise<void>((resolve) => {
    const s = client.openStream("/a.B/C", [["k", "v"]], {
      onReadable() { let m; while ((m = s.read())) msgs.push(m.length); },
      onTrailers(t) { trailers = parseTrailers(t); resolve(); },
      onReset(code, e) { console.log("reset", code, e); resolve(); },
    });
    for (let i = 0; i < 10; i++) s.write(new Uint8Array(3000));
    s.end();
  });
  await done;
  expect(got).toEqual(["/a.B/C"]);
  expect(msgs.length).toBe(20);
  expect(trailers.code).toBe(0);
});
