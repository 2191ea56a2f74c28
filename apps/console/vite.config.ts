// Vite builds the console into dist/ (served by server/serve.ts). The rule-set validator is
// compiled from schemas/ruleset.schema.json at build time (Ajv standalone code), so the browser
// runs no generated-code `new Function` and the page's CSP needs no 'unsafe-eval'.
import { readFileSync } from "node:fs";
import preact from "@preact/preset-vite";
import { Ajv2020 } from "ajv/dist/2020.js";
import standalone from "ajv/dist/standalone/index.js";
import { type Plugin, defineConfig } from "vite";

const SCHEMA = new URL("../../schemas/ruleset.schema.json", import.meta.url);
const VIRTUAL = "virtual:ruleset-validator";

function rulesetValidator(): Plugin {
  return {
    name: "ruleset-validator",
    resolveId: (id) => (id === VIRTUAL ? `\0${VIRTUAL}` : null),
    load(id) {
      if (id !== `\0${VIRTUAL}`) return null;
      this.addWatchFile(SCHEMA.pathname);
      const schema = JSON.parse(readFileSync(SCHEMA, "utf8"));
      const ajv = new Ajv2020({ allErrors: true, strict: false, code: { source: true, esm: true } });
      // Ajv's ESM output still require()s its runtime helpers (ucs2length for minLength and
      // maxLength): turn each into an import so the bundle has no require.
      const imports: string[] = [];
      const code = standalone
        .default(ajv, ajv.compile(schema))
        .replace(/require\("([^"]+)"\)\.default/g, (_m: string, mod: string) => {
          const name = `ajvRuntime${imports.length}`;
          imports.push(`import ${name} from ${JSON.stringify(mod)};`);
          return name;
        });
      return `${imports.join("\n")}\n${code.replace(/^"use strict";/, "")}`;
    },
  };
}

export default defineConfig({
  plugins: [preact(), rulesetValidator()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true },
});
