// A real third-party OpenID provider (npm `oidc-provider`) on 127.0.0.1 over HTTPS, for the local environment.
//
// Reads its settings as one JSON object on stdin (so the client secret never appears in a process listing),
// listens on a port chosen by the OS, and prints one JSON line {"port": N} on stdout once it serves.
// One confidential client may use the client_credentials grant; its access tokens are JWTs (RS256) for one
// resource indicator, with the audience set by the resource server settings.
import { readFileSync } from 'node:fs';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import https from 'node:https';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

function readStdin() {
  return new Promise((resolve, reject) => {
    let text = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => { text += chunk; });
    process.stdin.on('end', () => resolve(text));
    process.stdin.on('error', reject);
  });
}

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: `npm-${randomUUID().slice(0, 8)}`, alg: 'RS256', use: 'sig' };
}

const settings = JSON.parse(await readStdin());
// Resolved from the node_modules the caller names, wherever this script itself is installed.
const entry = createRequire(join(settings.node_modules, 'resolve.js')).resolve('oidc-provider');
const { default: Provider } = await import(pathToFileURL(entry).href);
const host = settings.host ?? '127.0.0.1';

const server = https.createServer({
  cert: readFileSync(settings.cert_file),
  key: readFileSync(settings.key_file),
  minVersion: 'TLSv1.2',
});

await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, host, resolve);
});
const { port } = server.address();
const issuer = `https://${host}:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: settings.client_id,
    client_secret: settings.client_secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signingKey()] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    revocation: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => settings.resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator) => {
        if (resourceIndicator !== settings.resource) {
          throw new Error(`unknown resource indicator ${resourceIndicator}`);
        }
        return {
          scope: settings.scope,
          audience: settings.audience,
          accessTokenTTL: settings.token_seconds,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  ttl: { ClientCredentials: settings.token_seconds },
});
provider.on('server_error', (ctx, error) => { console.error(`oidc-provider server_error: ${error.message}`); });

server.on('request', provider.callback());

function stop() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// Never outlive the process that started this one, even when it was killed without cleaning up.
setInterval(() => {
  try {
    process.kill(settings.parent_pid, 0);
  } catch {
    stop();
  }
}, 1000).unref();

process.stdout.write(`${JSON.stringify({ port, issuer })}\n`);
