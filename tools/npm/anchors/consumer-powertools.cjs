'use strict';
// The consumer anchor on Powertools for AWS Lambda (TypeScript): a Kinesis handler built on BatchProcessor
// and processPartialResponse, validating each event with Ajv, as a TypeScript team would write the
// pipeline's consumer function.
//
// Usage: node consumer-powertools.cjs <records.json> [--duration D] [--warmup D] [--schemas DIR]
// records.json is a Lambda Kinesis event. Each pass parses it from its text, as the Lambda runtime does with
// the invocation's payload, runs the handler over its records, and renders the workflow input and the
// partial batch response. The result line is described in common.cjs.

const fs = require('node:fs');
const common = require('./common.cjs');

const { BatchProcessor, EventType, processPartialResponse } = common.need('@aws-lambda-powertools/batch');

const usage = 'usage: node consumer-powertools.cjs <records.json> [--duration D] [--warmup D] [--schemas DIR]';

// InvalidEventError marks a record whose event failed validation; Powertools reports the record as a batch
// item failure.
class InvalidEventError extends Error {}

common.run(async () => {
  const opts = common.parseArgs(process.argv.slice(2), usage);
  const payload = fs.readFileSync(opts.file, 'utf8');
  const check = common.makeCheck(common.loadValidators(opts.schemas));
  const context = common.lambdaContext();
  const perPass = JSON.parse(payload).Records.length;

  // The items of the batch being processed. Powertools starts every record's handler in record order and
  // the handler finishes before it yields, so items keep record order.
  let items = [];
  const recordHandler = async (record) => {
    const item = check(record);
    if (item === null) throw new InvalidEventError(`invalid event in record ${record.kinesis.sequenceNumber}`);
    items.push(item);
  };

  const pass = async () => {
    const event = JSON.parse(payload);
    items = [];
    const response = await processPartialResponse(event, recordHandler,
      new BatchProcessor(EventType.KinesisDataStreams), { context });
    const input = common.workflowInput(event.Records, items);
    const body = JSON.stringify(response);
    return { failures: response.batchItemFailures.length, digest: common.digest(input, body) };
  };
  await common.measure({ name: 'powertools', unit: 'records', perPass, duration: opts.duration, warmup: opts.warmup }, pass);
});
