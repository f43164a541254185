'use strict';

// consume.js CONFIG: an ali-ons push consumer (clustering unless
// CONFIG.broadcast) subscribes to CONFIG.topic with CONFIG.expr and prints
// one line per delivery:
//   {"event":"msg","topic":...,"tags":...,"keys":...,"body":...,"props":{...},
//    "reconsumeTimes":0,"queueId":1,"queueOffset":0,"msgId":...,"at":ms}
// Each key in CONFIG.failOnce makes the handler throw on that message's first
// delivery (printed as "event":"fail"), so ali-ons sends it back to the
// broker for a retry. Once CONFIG.expect distinct bodies were consumed (0:
// none expected), it keeps consuming for CONFIG.linger ms to catch
// duplicates and strays, closes the consumer (which commits its offsets),
// prints {"event":"done","distinct":N} and exits 0. With CONFIG.untilStdinEnds
// it consumes instead until its stdin is closed (the test decides when the
// group has everything). Past CONFIG.timeoutMs it exits 2.
//
// CONFIG: {nameSrv, namespace, topic, group, expr, expect, linger, untilStdinEnds, timeoutMs, failOnce: [key], broadcast, fromFirst}

const { Consumer } = require('ali-ons');
const { config, emit, fail, deadline, clientOptions, userProps } = require('./common');

async function main() {
  const cfg = config();
  deadline(cfg.timeoutMs || 30000);
  const opts = Object.assign(clientOptions(cfg), {
    consumerGroup: cfg.group,
    isBroadcast: !!cfg.broadcast,
    // Short intervals keep the test quick: rebalance and offset commits.
    rebalanceInterval: 2000,
    persistConsumerOffsetInterval: 1000,
  });
  if (cfg.fromFirst) {
    opts.consumeFromWhere = 'CONSUME_FROM_FIRST_OFFSET';
  }
  const consumer = new Consumer(opts);
  consumer.on('error', err => process.stderr.write('consumer error: ' + err.message + '\n'));

  const failOnce = new Set(cfg.failOnce || []);
  const failed = new Set();
  const seen = new Set();
  let resolveEnough;
  const enough = new Promise(resolve => { resolveEnough = resolve; });
  if (cfg.untilStdinEnds) {
    process.stdin.on('end', () => resolveEnough());
    process.stdin.resume();
  } else if (!cfg.expect) {
    resolveEnough();
  }

  consumer.subscribe(cfg.topic, cfg.expr || '*', async msg => {
    const body = msg.body ? msg.body.toString('utf8') : '';
    const key = msg.keys || '';
    if (failOnce.has(key) && !failed.has(key)) {
      failed.add(key);
      emit({ event: 'fail', keys: key, body, reconsumeTimes: msg.reconsumeTimes, at: Date.now() });
      throw new Error('nodeclient: failing ' + key + ' once on purpose');
    }
    emit({ event: 'msg', topic: msg.topic, tags: msg.tags || '', keys: key, body, props: userProps(msg),
      reconsumeTimes: msg.reconsumeTimes, queueId: msg.queueId, queueOffset: msg.queueOffset,
      msgId: msg.msgId, bornTimestamp: msg.bornTimestamp, at: Date.now() });
    seen.add(body);
    if (cfg.expect && seen.size >= cfg.expect) {
      resolveEnough();
    }
  });
  await consumer.ready();
  emit({ event: 'ready', at: Date.now() });
  await enough;
  await new Promise(resolve => setTimeout(resolve, cfg.linger || 0));
  await consumer.close();
  emit({ event: 'done', distinct: seen.size });
  process.exit(0);
}

main().catch(err => fail(err.stack || err));
