// Validates events against the JSON Schemas in a directory with ajv (draft
// 2020-12, strict mode, formats checked), reading
// {"schemas": {detailType: schema}, "events": [{"detailType", "detail"}]}
// on stdin and writing {"schemaErrors": [...], "failures": [...]}.
const Ajv2020 = require("ajv/dist/2020");
const addFormats = require("ajv-formats");

let input = "";
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => {
  const { schemas, events } = JSON.parse(input);
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  const out = { schemaErrors: [], failures: [] };
  const validators = {};
  for (const [dt, schema] of Object.entries(schemas)) {
    try {
      validators[dt] = ajv.compile(schema);
    } catch (e) {
      out.schemaErrors.push(`${dt}: ${e.message}`);
    }
  }
  events.forEach((ev, i) => {
    const v = validators[ev.detailType];
    if (!v) {
      out.failures.push({ index: i, detailType: ev.detailType, errors: ["no schema for this detail type"] });
      return;
    }
    if (!v(ev.detail)) {
      out.failures.push({ index: i, detailType: ev.detailType, errors: v.errors.map((e) => `${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`) });
    }
  });
  process.stdout.write(JSON.stringify(out));
});
