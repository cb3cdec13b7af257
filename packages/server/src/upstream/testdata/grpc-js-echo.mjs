// A grpc-js server in its own process (so a test can SIGSTOP it): UnaryCall answers with the
// request's bytes. Prints its port on stdout, then serves until killed.
import { Server, ServerCredentials } from "@grpc/grpc-js";

const identity = (b) => b;
const server = new Server();
server.register(
  "/grpc.testing.TestService/UnaryCall",
  (call, callback) => callback(null, call.request),
  identity,
  identity,
  "unary",
);
server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, port) => {
  if (error) {
    console.error(error);
    process.exit(1);
  }
  process.stdout.write(`${port}\n`);
});
