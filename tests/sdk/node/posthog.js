// Drives the npm `posthog-node` SDK against Footfall's capture routes: every call it offers.
// Usage: node posthog.js BASE_URL API_KEY SCENARIO   (SCENARIO: all | retry)
// Prints {"errors": [...], "flag": …, "flags": …} as JSON on stdout once everything is flushed.
const { PostHog } = require('posthog-node');

async function main() {
  const [host, apiKey, scenario] = process.argv.slice(2);
  const client = new PostHog(apiKey, { host, flushAt: 4, flushInterval: 50, fetchRetryCount: 20, fetchRetryDelay: 200 });
  const errors = [];
  client.on('error', (err) => errors.push(String(err && (err.message || err))));
  const out = { errors };
  if (scenario === 'retry') {
    client.capture({ distinctId: 'node-503', event: 'Retried', uuid: '3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b' });
  } else {
    client.capture({ distinctId: 'ph-anon', event: 'Viewed Pricing', properties: { $process_person_profile: false } });
    client.identify({ distinctId: 'ph-user', properties: { $anon_distinct_id: 'ph-anon',
      $set: { email: 'PH@Example.com', first_name: 'Pea' }, $set_once: { first_seen: '2026-01-01' } } });
    client.setPersonProperties({ distinctId: 'ph-user', properties: { plan: 'pro', temp: 1 }, propertiesOnce: { first_seen: '2027-01-01' } });
    client.unsetPersonProperties({ distinctId: 'ph-user', properties: ['temp'] });
    const order = { distinctId: 'ph-user', event: 'Order Completed', uuid: '9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d',
      properties: { revenue: 7.5, currency: 'gbp' } };
    client.capture(order);
    client.capture(order); // sent again: deduplicated
    client.alias({ distinctId: 'ph-device', alias: 'ph-user' });
    client.groupIdentify({ groupType: 'company', groupKey: 'acme', properties: { name: 'Acme' } });
    client.captureException(new Error('boom'), 'ph-user');
    out.flag = (await client.getFeatureFlag('new-checkout', 'ph-user')) ?? null;
    out.enabled = (await client.isFeatureEnabled('new-checkout', 'ph-user')) ?? null;
    out.flags = await client.getAllFlags('ph-user');
  }
  await client.shutdown(30000);
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err));
  process.exit(1);
});
