// ajv's verdicts for the schema differential test: ajv (npm, pinned by
// tests/run-all.sh) in its JSON Schema 2020-12 build, not strict, stopping
// at the first error, formats not checked. Reads the {"schema", "instance"}
// lines tests/py/schema_cases.py writes on stdin and prints one line per
// pair, in order: `true`, `false`, or `error: <why>` when ajv refuses the
// schema.
// Usage: node ajv_verdicts.mjs < pairs   (ajv is found in $ARGUS_NODE_MODULES)
import path from "node:path";
import readline from "node:readline";
import { pathToFileURL } from "node:url";

const entry = path.join(process.env.ARGUS_NODE_MODULES, "ajv/dist/2020.js");
const { default: Ajv2020 } = await import(pathToFileURL(entry).href);

const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: false });
// The generator repeats each schema for several instances: compile it once.
const compiled = new Map();

function verdict(text) {
  const { schema, instance } = JSON.parse(text);
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (validate === undefined) {
    try {
      validate = ajv.compile(schema);
    } catch (e) {
      return `error: ${String(e.message).split("\n")[0]}`;
    }
    compiled.set(key, validate);
  }
  return String(validate(instance));
}

for await (const text of readline.createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (text.trim() !== "") process.stdout.write(verdict(text) + "\n");
}
