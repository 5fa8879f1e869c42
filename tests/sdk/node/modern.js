// Drives the npm `klaviyo-api` SDK (modern JSON:API) against Footfall.
// Usage: node modern.js BASE_URL PRIVATE_KEY EMAIL  -> prints {"profiles": [...]} as JSON on stdout.
const { ApiKeySession, EventsApi, ProfilesApi } = require('klaviyo-api');

async function main() {
  const [baseUrl, key, email] = process.argv.slice(2);
  const session = new ApiKeySession(key);
  const events = new EventsApi(session);
  events.basePath = baseUrl;
  const profiles = new ProfilesApi(session);
  profiles.basePath = baseUrl;

  const created = await events.createEvent({
    data: {
      type: 'event',
      attributes: {
        properties: { item: 'Boots', size: 42 },
        time: new Date('2025-01-02T03:04:05Z'),
        value: 99.5,
        valueCurrency: 'EUR',
        uniqueId: 'node-order-1',
        metric: { data: { type: 'metric', attributes: { name: 'Placed Order' } } },
        profile: { data: { type: 'profile', attributes: { email, firstName: 'Node' } } },
      },
    },
  });
  const listed = await profiles.getProfiles({ filter: `equals(email,"${email}")` });
  const out = {
    createStatus: created.response.status,
    profiles: listed.body.data.map((p) => ({ id: p.id, email: p.attributes.email, firstName: p.attributes.firstName })),
  };
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  const detail = err.response ? { status: err.response.status, data: err.response.data } : String(err);
  process.stderr.write(JSON.stringify(detail));
  process.exit(1);
});
