// The README's quickstart: a bridge on an http.Server and a Connect client over one WebSocket.
// Run: npx tsx examples/quickstart/main.ts
import { createServer } from "node:http";
import { createClient } from "@connectrpc/connect";
import { createWebSocketBridge } from "@grpc-ws/server";
import { createWebSocketTransport } from "@grpc-ws/client";
import { GreetService } from "../../gen/greet/v1/greet_pb.js";
import { greetService } from "./greet-service.js";

export async function main(log: (line: string) => void = console.log): Promise<void> {
  const bridge = createWebSocketBridge({ routes: (router) => router.service(GreetService, greetService) });
  const server = createServer().listen(0, "127.0.0.1");
  bridge.attach(server, { path: "/grpc" });
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address() as { port: number };

  const transport = createWebSocketTransport({ url: `ws://127.0.0.1:${port}/grpc` });
  const client = createClient(GreetService, transport);
  log((await client.greet({ name: "Ada" })).greeting);
  for await (const res of client.greetMany({ name: "Ada", count: 2 })) log(res.greeting);
  log((await client.greetGroup(names("Ada", "Grace"))).greeting);
  for await (const res of client.greetEach(names("Alan", "Barbara"))) log(res.greeting);

  await transport.close();
  await bridge.close();
  server.close();
}

async function* names(...list: string[]) {
  for (const name of list) yield { name };
}

if (process.argv[1]?.endsWith("main.ts")) await main();
