'use strict';
// The validation anchor: Ajv (JSON Schema 2020-12, ajv-formats) over events given one per line. Each pass
// parses and validates every line, dispatching on the event's type; an unknown type or malformed JSON
// counts as a failure.
//
// Usage: node validate-ajv.cjs <events.ndjson> [--duration D] [--warmup D] [--schemas DIR]
// The result line is described in common.cjs.

const fs = require('node:fs');
const common = require('./common.cjs');

const usage = 'usage: node validate-ajv.cjs <events.ndjson> [--duration D] [--warmup D] [--schemas DIR]';

common.run(async () => {
  const opts = common.parseArgs(process.argv.slice(2), usage);
  const lines = fs.readFileSync(opts.file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const validators = common.loadValidators(opts.schemas);

  const pass = () => {
    let failures = 0;
    for (let i = 0; i < lines.length; i++) {
      let ok;
      try {
        ok = common.validEvent(validators, lines[i]) !== null;
      } catch {
        ok = false;
      }
      if (!ok) failures++;
    }
    return { failures, digest: common.digest(String(lines.length), String(failures)) };
  };
  await common.measure({ name: 'ajv', unit: 'events', perPass: lines.length, duration: opts.duration, warmup: opts.warmup }, pass);
});
