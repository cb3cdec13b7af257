import { expect, it } from "vitest";
import { main } from "./main.js";

it("runs all four call kinds as the README shows", async () => {
  const lines: string[] = [];
  await main((line) => lines.push(line));
  expect(lines).toEqual([
    "Hello, Ada!",
    "Hello #1, Ada!",
    "Hello #2, Ada!",
    "Hello, Ada and Grace!",
    "Hello, Alan!",
    "Hello, Barbara!",
  ]);
});
