// Drives the npm `klaviyo-node` SDK (1.0.8) against a Footfall server.
// Usage: node legacy.js BASE_URL PUBLIC_KEY  -> prints the SDK's answers as JSON.
const Klaviyo = require('klaviyo-node');

async function main() {
  const [baseUrl, publicKey] = process.argv.slice(2);
  const klaviyo = new Klaviyo(publicKey, {apiBasePath: `${baseUrl}/api`, log: false, retryCount: 0});
  const answers = {};
  answers.identify = await klaviyo.identify('Node.User@Example.com', {
    $first_name: 'Noa', $city: 'Tallinn', plan: 'pro',
  });
  answers.track = await klaviyo.track('Ordered Product', 'node.user@example.com',
      {$value: 59.9, $event_id: 'node-order-1', items: ['lamp', 'bulb']},
      {$last_name: 'Node', $phone_number: '+3725123456'});
  answers.viewed = await klaviyo.track('Viewed Product', 'node.user@example.com', {name: 'Lamp'});
  answers.unknownToken = await new Klaviyo('NOSUCH', {apiBasePath: `${baseUrl}/api`, log: false, retryCount: 0})
      .track('Ordered Product', 'x@example.com', {});
  process.stdout.write(JSON.stringify(answers));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack || error));
  process.exit(1);
});
