// Child process of redis-backplane.spec.ts: an instance with one member online, to be killed
// by its PID (a crash: nothing is cleaned up). Usage: node --import tsx crash-member.testing.ts <redis url> <room> <name>
import { RedisBackplane } from "./redis-backplane.js";

const [url = "", room = "", name = ""] = process.argv.slice(2);
const backplane = await RedisBackplane.connect(url, { presenceTtlMs: 1_000 });
const { member } = await backplane.join(room, name, "");
await backplane.goOnline(member);
console.log("online");
setInterval(() => {}, 60_000); // stays until killed
