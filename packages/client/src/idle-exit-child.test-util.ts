// Run by idle-exit.spec.ts in a child process: one call, then no transport.close(). The process
// must exit by itself, as with connect-node or grpc-js.
import { createClient } from "@connectrpc/connect";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { createWebSocketTransport } from "./index.js";

const url = process.argv[2];
if (!url) throw new Error("usage: idle-exit-child <url>");
const transport = createWebSocketTransport({ url });
const client = createClient(TestService, transport);
await client.emptyCall({});
process.stdout.write(`called ${transport.state}\n`);
