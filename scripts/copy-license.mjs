// prepack of each published package: its tarball carries a copy of the repository's LICENSE.
import { copyFileSync } from "node:fs";

copyFileSync(new URL("../LICENSE", import.meta.url), "LICENSE");
