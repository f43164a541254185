'use strict';

// Shared helpers of the scripts nodeclient_test.go runs: the options every
// ali-ons client needs, JSON-lines output, and a hard deadline.

const { Message } = require('ali-ons');

// config reads the script's settings: one JSON object, the first argument.
function config() {
  if (process.argv.length < 3) {
    fail('usage: node ' + process.argv[1] + ' JSON');
  }
  return JSON.parse(process.argv[2]);
}

// emit writes one result line on stdout.
function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// fail reports an error as a line and exits non-zero.
function fail(msg) {
  emit({ event: 'error', error: String(msg) });
  process.exit(1);
}

// deadline ends the script (exit 2) if it is still running after ms.
function deadline(ms) {
  const t = setTimeout(() => {
    emit({ event: 'timeout', ms });
    process.exit(2);
  }, ms);
  t.unref();
}

// clientOptions are the options both the producer and the consumer take.
// ali-ons's constructor requires an httpclient and credentials: the
// httpclient is only used to look name servers up over HTTP (onsAddr), which
// nameSrv replaces, and a broker with ACL off ignores the signature.
function clientOptions(cfg) {
  return {
    nameSrv: cfg.nameSrv,
    // RocketMQ namespaces: ali-ons prefixes topics and groups with "NS%".
    namespace: cfg.namespace || '',
    accessKeyId: 'wharf-test',
    accessKeySecret: 'wharf-test',
    httpclient: {
      request() {
        throw new Error('nodeclient: no HTTP name server lookup expected (nameSrv is set)');
      },
    },
    logger: {
      info() {},
      debug() {},
      warn(...args) { process.stderr.write('[ali-ons warn] ' + args.map(String).join(' ') + '\n'); },
      error(...args) { process.stderr.write('[ali-ons error] ' + args.map(a => (a && a.stack) || String(a)).join(' ') + '\n'); },
    },
  };
}

// userProps returns the properties of msg that are not RocketMQ's own.
const systemProps = new Set([ 'TAGS', 'KEYS', 'UNIQ_KEY', 'WAIT', 'MIN_OFFSET', 'MAX_OFFSET', 'DELAY',
  'RETRY_TOPIC', 'ORIGIN_MESSAGE_ID', 'REAL_TOPIC', 'REAL_QID', 'MAX_RECONSUME_TIMES', 'RECONSUME_TIME',
  'CONSUME_START_TIME', 'CLUSTER', 'TRACE_ON', 'MSG_REGION', '__CRC32#' ]);

function userProps(msg) {
  const out = {};
  for (const [ k, v ] of Object.entries(msg.properties || {})) {
    // ali-ons parses the empty item after the last separator as "": skip it.
    if (k !== '' && !systemProps.has(k) && v !== null && v !== undefined) {
      out[k] = v;
    }
  }
  return out;
}

// newMessage builds an ali-ons Message from a spec of the Go test.
function newMessage(topic, spec) {
  const msg = new Message(topic, spec.tags || null, Buffer.from(spec.body, 'utf8'));
  if (!spec.tags) {
    delete msg.properties.TAGS;
  }
  if (spec.keys && spec.keys.length) {
    msg.keys = spec.keys;
  }
  for (const [ k, v ] of Object.entries(spec.props || {})) {
    msg.properties[k] = v;
  }
  if (spec.delayLevel) {
    msg.delayTimeLevel = spec.delayLevel;
  }
  return msg;
}

module.exports = { config, emit, fail, deadline, clientOptions, userProps, newMessage };
