'use strict';
// Shared parts of the benchmark anchors: the command line, the event schemas compiled by Ajv (JSON Schema
// 2020-12 with ajv-formats, as the Go validator asserts formats), the work one Kinesis record costs a
// TypeScript consumer, and the timing loop with its one JSON result line.
//
// Command line of every anchor: <input file> [--duration D] [--warmup D] [--schemas DIR], where D is seconds
// ("3", "2.5") or a number ending in "s" or "ms". The environment variables SDP_BENCH_DURATION and
// SDP_BENCH_WARMUP give the defaults (3 s and 1 s); the schemas default to <repository>/event/schemas.

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');

// EXIT_MISSING is the exit status when a required npm package is not installed.
const EXIT_MISSING = 3;

// need loads an npm package of tools/npm, or exits with a message that names the fix.
function need(name) {
  try {
    return require(name);
  } catch (err) {
    if (err && err.code === 'MODULE_NOT_FOUND') {
      process.stderr.write(`anchors: the npm package ${name} is not installed in tools/npm: run \`make tools\`\n`);
      process.exit(EXIT_MISSING);
    }
    throw err;
  }
}

// parseDuration reads seconds from "3", "2.5", "3s" or "500ms".
function parseDuration(text, what) {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(String(text).trim());
  if (m === null) {
    throw new Error(`${what}: ${JSON.stringify(text)} is not a duration (seconds, or a number ending in s or ms)`);
  }
  const v = Number(m[1]);
  return m[2] === 'ms' ? v / 1000 : v;
}

// parseArgs reads the command line (process.argv without node and the script).
function parseArgs(argv, usage) {
  const opts = {
    file: '',
    duration: parseDuration(process.env.SDP_BENCH_DURATION || '3', 'SDP_BENCH_DURATION'),
    warmup: parseDuration(process.env.SDP_BENCH_WARMUP || '1', 'SDP_BENCH_WARMUP'),
    schemas: path.resolve(__dirname, '..', '..', '..', 'event', 'schemas'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value\n${usage}`);
      return argv[++i];
    };
    if (a === '--duration') opts.duration = parseDuration(value(), a);
    else if (a === '--warmup') opts.warmup = parseDuration(value(), a);
    else if (a === '--schemas') opts.schemas = value();
    else if (a.startsWith('-')) throw new Error(`unknown flag ${a}\n${usage}`);
    else if (opts.file === '') opts.file = a;
    else throw new Error(`one input file only\n${usage}`);
  }
  if (opts.file === '') throw new Error(usage);
  if (!(opts.duration > 0)) throw new Error('the duration must be above 0');
  return opts;
}

// loadValidators compiles one Ajv validator per event type schema of dir (<type>.json), with
// cloudevent.json, the envelope they all refer to, added as a resource. It returns a Map from type to
// validator.
function loadValidators(dir) {
  const Ajv2020 = need('ajv/dist/2020');
  const addFormats = need('ajv-formats');
  const ajv = new Ajv2020({ strict: false });
  addFormats(ajv);
  // The schemas name the numeric fields analytics aggregates; the keyword does not validate anything.
  ajv.addKeyword('x-measures');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  const read = (f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
  if (!files.includes('cloudevent.json')) {
    throw new Error(`${dir}: no cloudevent.json (the envelope schema)`);
  }
  ajv.addSchema(read('cloudevent.json'));
  const validators = new Map();
  for (const f of files) {
    if (f === 'cloudevent.json') continue;
    validators.set(path.basename(f, '.json'), ajv.compile(read(f)));
  }
  if (validators.size === 0) throw new Error(`${dir}: no event type schemas`);
  return validators;
}

// validEvent returns the event when raw (a JSON text) is a valid event of a known type, else null.
// JSON.parse throws on malformed text; callers count that as invalid too.
function validEvent(validators, raw) {
  const obj = JSON.parse(raw);
  if (obj === null || typeof obj !== 'object') return null;
  const validate = validators.get(obj.type);
  if (validate === undefined || !validate(obj)) return null;
  return obj;
}

// makeCheck returns the work of one Kinesis record: decode its data (base64, then UTF-8), parse and validate
// the event, and build the workflow item, or return null when the record is invalid.
function makeCheck(validators) {
  return (record) => {
    const k = record.kinesis;
    let obj;
    try {
      obj = validEvent(validators, Buffer.from(k.data, 'base64').toString('utf8'));
    } catch {
      return null;
    }
    if (obj === null) return null;
    return {
      sequenceNumber: k.sequenceNumber,
      partitionKey: k.partitionKey,
      arrivalTime: new Date(Math.round(k.approximateArrivalTimestamp * 1000)).toISOString(),
      event: obj,
    };
  };
}

// workflowInput renders the workflow execution's input for a batch's records and its valid items:
// {batchId, shardId, items}, where the batch id is "<shard>:<first sequence number>-<last sequence number>"
// and the shard comes from the event id ("shardId-000000000000:<sequence number>").
function workflowInput(records, items) {
  if (records.length === 0) return JSON.stringify({ batchId: '', shardId: '', items });
  const shardId = records[0].eventID.split(':')[0];
  const first = records[0].kinesis.sequenceNumber;
  const last = records[records.length - 1].kinesis.sequenceNumber;
  return JSON.stringify({ batchId: `${shardId}:${first}-${last}`, shardId, items });
}

// lambdaContext is the invocation context a handler receives, with the fields the Node.js runtime sets.
function lambdaContext() {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'sdp-consumer',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:sdp-consumer',
    memoryLimitInMB: '1769',
    awsRequestId: '8f5c2b8e-1f0d-4c36-9d5e-6d1f5b1d2a10',
    logGroupName: '/aws/lambda/sdp-consumer',
    logStreamName: '2026/01/15/[$LATEST]0123456789abcdef0123456789abcdef',
    getRemainingTimeInMillis: () => 900000,
    done() {},
    fail() {},
    succeed() {},
  };
}

// digest hashes the outputs of one pass, so that two anchors doing the same work can be compared.
function digest(...parts) {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p).update('\n');
  return h.digest('hex');
}

// measure runs pass (one batch or one sweep of the input; it returns {failures, digest}) once to check it,
// then for warmup seconds, then for duration seconds, timed with process.hrtime, and prints one JSON line:
// {name, <unit>: items processed while timed, seconds, rate: items per second, failures: per pass,
// iterations, perPass, digest}. A pass whose failure count differs from the first pass's is an error.
async function measure({ name, unit, perPass, duration, warmup }, pass) {
  const first = await pass();
  const check = (r) => {
    if (r.failures !== first.failures) {
      throw new Error(`${name}: a pass reported ${r.failures} failures, the first ${first.failures}`);
    }
  };
  const now = () => process.hrtime.bigint();
  const warmEnd = now() + BigInt(Math.round(warmup * 1e9));
  while (now() < warmEnd) check(await pass());

  const start = now();
  const end = start + BigInt(Math.round(duration * 1e9));
  let iterations = 0;
  let t;
  do {
    check(await pass());
    iterations++;
    t = now();
  } while (t < end);
  const seconds = Number(t - start) / 1e9;
  const total = iterations * perPass;
  const out = { name, [unit]: total, seconds, rate: total / seconds, failures: first.failures, iterations, perPass, digest: first.digest };
  process.stdout.write(JSON.stringify(out) + '\n');
}

// run calls main and turns its errors into a message and exit status 1.
function run(main) {
  main().catch((err) => {
    process.stderr.write(`${path.basename(process.argv[1])}: ${err && err.message ? err.message : err}\n`);
    process.exit(1);
  });
}

module.exports = {
  need, parseArgs, parseDuration, loadValidators, validEvent, makeCheck, workflowInput, lambdaContext, digest,
  measure, run,
};
