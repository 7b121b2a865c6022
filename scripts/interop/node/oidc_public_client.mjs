// A public client (a mobile app's way: PKCE, no secret, a loopback
// redirect) of siwa's OpenID Provider, written with openid-client, a widely
// used OpenID Connect library that is not ours. It finds the endpoints by
// discovery, prints the authorization URL, reads back the URL the browser
// was sent to (scripts/interop/oidc_openid_client.py plays the browser),
// then checks everything openid-client checks (state, iss of RFC 9207, the
// ID token's signature and claims, nonce) and reads userinfo, refreshes,
// revokes and builds the logout URL. It prints one JSON line of what it saw.
//
// Usage: node oidc_public_client.mjs ISSUER CLIENT_ID REDIRECT_URI
import * as client from 'openid-client';
import * as readline from 'node:readline/promises';

const [issuer, clientId, redirectUri] = process.argv.slice(2);
const config = await client.discovery(new URL(issuer), clientId, undefined, client.None(), {
  execute: [client.allowInsecureRequests], // the provider is on plain-http loopback
});
const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: 'openid profile email',
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  state,
  nonce,
});
console.log(url.href);

const input = readline.createInterface({ input: process.stdin });
const back = (await input[Symbol.asyncIterator]().next()).value;
input.close();

const tokens = await client.authorizationCodeGrant(config, new URL(back), {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
await client.tokenRevocation(config, refreshed.refresh_token, { token_type_hint: 'refresh_token' });
let afterRevoke = null;
try {
  await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
} catch (e) {
  afterRevoke = e.status ?? e.response?.status ?? String(e);
}
const logout = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, state: 'bye' });
console.log(JSON.stringify({
  claims,
  userinfo,
  refreshed_sub: refreshed.claims().sub,
  rotated: refreshed.refresh_token !== tokens.refresh_token,
  after_revoke: afterRevoke,
  logout: logout.href,
}));
