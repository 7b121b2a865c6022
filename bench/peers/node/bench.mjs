// One measurement per process, for bench/compare.py (see siwa-bench's docs):
//   node bench.mjs OP IMPL SECONDS FIXTURES_DIR
// prints {"op","impl","ops","cpu_s"}. Each peer is used the way its README
// shows, with every check siwa-kit makes that the peer offers (signature,
// alg, iss, aud, exp, and the nonce as SHA-256 of the raw one), and keys
// parsed once wherever the peer's API allows it.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const [op, impl, secsArg, dir] = process.argv.slice(2);
const secs = Number(secsArg);
const fx = JSON.parse(readFileSync(join(dir, 'fixtures.json'), 'utf8'));
const jwksText = readFileSync(join(dir, 'jwks.json'), 'utf8');
const jwks = JSON.parse(jwksText);
const pem = readFileSync(fx.p8_path, 'utf8');
const sha256hex = (s) => createHash('sha256').update(s).digest('hex');

function fail(msg) {
  console.error(`bench.mjs: ${msg}`);
  process.exit(2);
}

async function makeOp() {
  if (impl === 'jose') {
    const jose = await import('jose');
    if (op === 'verify_id_token' || op === 'verify_notification') {
      // A local key set: each key is imported once and cached by jose.
      const keys = jose.createLocalJWKSet(jwks);
      const token = op === 'verify_id_token' ? fx.id_token : fx.notification;
      return async () => {
        const { payload } = await jose.jwtVerify(token, keys, {
          issuer: fx.issuer,
          audience: fx.audience,
          algorithms: ['RS256'],
          requiredClaims: ['iat', 'exp', 'sub'].filter((c) => op === 'verify_id_token' || c !== 'sub'),
        });
        if (op === 'verify_id_token') {
          if (payload.nonce !== sha256hex(fx.nonce_raw)) fail('nonce');
        } else {
          const events = JSON.parse(payload.events);
          if (!events.type || !events.sub) fail('events');
        }
        return payload;
      };
    }
    if (op === 'sign_client_secret') {
      const key = await jose.importPKCS8(pem, 'ES256');
      return async () => {
        const now = Math.floor(Date.now() / 1000);
        return new jose.SignJWT({})
          .setProtectedHeader({ alg: 'ES256', kid: fx.key_id })
          .setIssuer(fx.team_id)
          .setIssuedAt(now - 60)
          .setExpirationTime(now - 60 + fx.secret_ttl)
          .setAudience('https://appleid.apple.com')
          .setSubject(fx.client_id)
          .sign(key);
      };
    }
  }
  if (impl === 'apple-signin-auth') {
    const apple = require('apple-signin-auth');
    // Its key fetch goes to appleid.apple.com; answer it with the local set.
    apple._setFetch(async () => ({ text: async () => jwksText }));
    if (op === 'verify_id_token') {
      return () =>
        apple.verifyIdToken(fx.id_token, {
          audience: fx.audience,
          // Its nonce option compares exactly: give it SHA-256(raw) as apps do.
          nonce: sha256hex(fx.nonce_raw),
        });
    }
    if (op === 'verify_notification') {
      return () => apple.verifyWebhookToken(fx.notification, { audience: fx.audience });
    }
    if (op === 'sign_client_secret') {
      // Its API takes the PEM text and parses it on every call.
      return async () =>
        apple.getClientSecret({
          clientID: fx.client_id,
          teamID: fx.team_id,
          keyIdentifier: fx.key_id,
          privateKey: pem,
          expAfter: fx.secret_ttl,
        });
    }
  }
  fail(`no ${impl} for ${op}`);
}

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const f = await makeOp();
await f(); // fail early, and warm the key caches
const BATCH = 32;
const warmEnd = cpu() + Math.min(secs / 10, 0.5);
while (cpu() < warmEnd) for (let i = 0; i < BATCH; i++) await f();
const start = cpu();
let ops = 0;
for (;;) {
  for (let i = 0; i < BATCH; i++) await f();
  ops += BATCH;
  const spent = cpu() - start;
  if (spent >= secs) {
    console.log(JSON.stringify({ op, impl, ops, cpu_s: spent }));
    break;
  }
}
