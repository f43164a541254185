'use strict';

// produce.js CONFIG: sends each message of CONFIG.messages with ali-ons's
// Producer.send, one at a time, and prints one line per send:
//   {"event":"sent","i":0,"status":"SEND_OK","msgId":...,"queueId":1,"queueOffset":0}
// then {"event":"done","sent":N}. A send that throws ends it with exit 1.
//
// CONFIG: {nameSrv, namespace, topic, group, timeoutMs, messages: [{body, tags, keys, props, delayLevel}]}

const { Producer } = require('ali-ons');
const { config, emit, fail, deadline, clientOptions, newMessage } = require('./common');

async function main() {
  const cfg = config();
  deadline(cfg.timeoutMs || 20000);
  const producer = new Producer(Object.assign(clientOptions(cfg), { producerGroup: cfg.group }));
  producer.on('error', err => process.stderr.write('producer error: ' + err.stack + '\n'));
  await producer.ready();
  let i = 0;
  for (const spec of cfg.messages) {
    const res = await producer.send(newMessage(cfg.topic, spec));
    emit({ event: 'sent', i, status: res.sendStatus, msgId: res.msgId, queueId: Number(res.messageQueue.queueId),
      queueOffset: res.queueOffset, sentAt: Date.now() });
    i++;
  }
  await producer.close();
  emit({ event: 'done', sent: i });
  process.exit(0);
}

main().catch(err => fail(err.stack || err));
