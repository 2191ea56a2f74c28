declare module "virtual:ruleset-validator" {
  import type { SchemaError } from "./validate.ts";
  const validate: ((doc: unknown) => boolean) & { errors?: SchemaError[] | null };
  export default validate;
}
