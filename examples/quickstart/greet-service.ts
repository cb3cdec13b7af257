import type { ServiceImpl } from "@connectrpc/connect";
import type { GreetService } from "../../gen/greet/v1/greet_pb.js";

// One handler of each call kind, in Connect's ServiceImpl shape.
export const greetService: ServiceImpl<typeof GreetService> = {
  greet: (req) => ({ greeting: `Hello, ${req.name}!` }),
  async *greetMany(req) {
    for (let i = 1; i <= Math.min(req.count, 100); i++) yield { greeting: `Hello #${i}, ${req.name}!` };
  },
  async greetGroup(reqs) {
    const names: string[] = [];
    for await (const req of reqs) names.push(req.name);
    return { greeting: `Hello, ${names.join(" and ")}!` };
  },
  async *greetEach(reqs) {
    for await (const req of reqs) yield { greeting: `Hello, ${req.name}!` };
  },
};
