'use strict';
// The consumer anchor in plain Node.js: the same work as consumer-powertools.cjs (decode, parse and
// validate each record's event with Ajv, render the workflow input and the partial batch response) in one
// for-loop, without a framework: the fastest a TypeScript consumer is likely to be.
//
// Usage: node consumer-node.cjs <records.json> [--duration D] [--warmup D] [--schemas DIR]
// The result line is described in common.cjs.

const fs = require('node:fs');
const common = require('./common.cjs');

const usage = 'usage: node consumer-node.cjs <records.json> [--duration D] [--warmup D] [--schemas DIR]';

common.run(async () => {
  const opts = common.parseArgs(process.argv.slice(2), usage);
  const payload = fs.readFileSync(opts.file, 'utf8');
  const check = common.makeCheck(common.loadValidators(opts.schemas));
  const context = common.lambdaContext();
  const perPass = JSON.parse(payload).Records.length;

  // handler is the Lambda handler: it returns the partial batch response and, for the check, the workflow
  // input it would start the execution with.
  const handler = async (event, _context) => {
    const items = [];
    const batchItemFailures = [];
    const records = event.Records;
    for (let i = 0; i < records.length; i++) {
      const item = check(records[i]);
      if (item === null) batchItemFailures.push({ itemIdentifier: records[i].kinesis.sequenceNumber });
      else items.push(item);
    }
    return { input: common.workflowInput(records, items), response: { batchItemFailures } };
  };

  const pass = async () => {
    const { input, response } = await handler(JSON.parse(payload), context);
    const body = JSON.stringify(response);
    return { failures: response.batchItemFailures.length, digest: common.digest(input, body) };
  };
  await common.measure({ name: 'node+ajv', unit: 'records', perPass, duration: opts.duration, warmup: opts.warmup }, pass);
});
