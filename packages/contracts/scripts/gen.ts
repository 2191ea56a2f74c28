import { writeFileSync } from "node:fs";
import { generateTypes } from "../src/codegen.ts";

writeFileSync(new URL("../src/generated/types.ts", import.meta.url), generateTypes());
