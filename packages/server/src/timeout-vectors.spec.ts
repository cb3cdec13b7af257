import { readFileSync } from "node:fs";
import { Status } from "@grpc-ws/wire";
import { describe, expect, test } from "vitest";
import { TestService } from "../../../gen/grpc/testing/test_pb.js";
import { useBridge } from "./bridge-fixture.test-util.js";

// The invalid grpc-timeout vectors of docs/vectors name the status a server ends the call with
// (PROTOCOL.md section 3.2); the bridge must answer exactly that.
interface TimeoutVector {
  kind: "timeout";
  description: string;
  value: string;
  invalid?: boolean;
  status?: keyof typeof Status;
}
const vectors = JSON.parse(
  readFileSync(new URL("../../../docs/vectors/grpc-ws-v1.json", import.meta.url), "utf8"),
) as Array<{
  kind: string;
}>;
// Metadata text values are printable ASCII (section 3.1); the others are refused before the timeout is read.
const invalid = vectors
  .filter((v): v is TimeoutVector => v.kind === "timeout" && (v as TimeoutVector).invalid === true)
  .filter((v) => /^[\x20-\x7e]*$/.test(v.value));

const fx = useBridge({
  routes(router) {
    router.rpc(TestService.method.emptyCall, async () => ({}));
  },
});

describe("invalid grpc-timeout vectors through the bridge", () => {
  test("there are vectors to run", () => {
    expect(invalid.length).toBeGreaterThan(10);
  });
  for (const v of invalid) {
    test(`${v.description}: ${v.status}`, async () => {
      expect(v.status).toBeDefined();
      const client = await fx.connect();
      const call = client.call("/grpc.testing.TestService/EmptyCall", [new Uint8Array(0)], {
        metadata: [["grpc-timeout", v.value]],
      });
      const outcome = await call.done;
      expect(outcome.status?.code).toBe(Status[v.status as keyof typeof Status]);
      expect(outcome.status?.message).toContain("grpc-timeout");
    });
  }
});
