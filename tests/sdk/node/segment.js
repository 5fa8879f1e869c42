// Drives the npm `@segment/analytics-node` SDK against Footfall's /v1 routes: every call it offers.
// Usage: node segment.js BASE_URL WRITE_KEY SCENARIO   (SCENARIO: all | retry)
// Prints {"errors": [...]} as JSON on stdout once everything is flushed.
const { Analytics } = require('@segment/analytics-node');

async function main() {
  const [host, writeKey, scenario] = process.argv.slice(2);
  const analytics = new Analytics({ writeKey, host, maxEventsInBatch: 4, flushInterval: 50, maxRetries: 20 });
  const errors = [];
  analytics.on('error', (err) => errors.push(String(err && (err.reason || err.message || err))));
  if (scenario === 'retry') {
    analytics.track({ userId: 'node-503', event: 'Retried', messageId: 'node-retry-1' });
  } else {
    const context = { ip: '198.51.100.4', userAgent: 'node-sdk-test', page: { url: 'https://shop.example/n' } };
    analytics.track({ anonymousId: 'node-visitor', event: 'Viewed Pricing', properties: { plan: 'pro' } });
    analytics.identify({ userId: 'node-user', traits: { email: 'Node@Example.com', firstName: 'Nod', plan: 'pro' } });
    analytics.alias({ previousId: 'node-visitor', userId: 'node-user' });
    const order = { userId: 'node-user', event: 'Order Completed', messageId: 'node-order-1', context,
      properties: { revenue: 30, currency: 'usd', sku: 'N-1' } };
    analytics.track(order);
    analytics.track(order); // sent again: deduplicated
    analytics.page({ userId: 'node-user', category: 'Docs', name: 'Install', properties: { url: 'https://shop.example/d' } });
    analytics.screen({ userId: 'node-user', name: 'Settings', properties: { tab: 'privacy' } });
    analytics.group({ userId: 'node-user', groupId: 'org-n', traits: { name: 'Nodeco' } });
  }
  await analytics.closeAndFlush({ timeout: 30000 });
  process.stdout.write(JSON.stringify({ errors }));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err));
  process.exit(1);
});
