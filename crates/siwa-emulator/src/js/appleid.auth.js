/*
 * Sign in with Apple JS, as `siwa emulator` serves it at Apple's path
 * (/appleauth/static/jsapi/appleid/1/en_US/appleid.auth.js): the API of
 * Apple's appleid.auth.js, against the emulator. A page points its script
 * tag here in development and at Apple's CDN in production, nothing else
 * changes.
 *
 *   AppleID.auth.init({clientId, scope, redirectURI, state, nonce, usePopup})
 *     (or the meta tags appleid-signin-client-id, -scope, -redirect-uri,
 *     -state, -nonce, -use-popup)
 *   AppleID.auth.signIn([config]) -> Promise
 *     popup: resolves {authorization: {code, id_token, state}, user?},
 *            rejects {error} (popup_closed_by_user, user_cancelled_authorize,
 *            popup_blocked_by_browser); the same on document as the events
 *            AppleIDSignInOnSuccess / AppleIDSignInOnFailure (event.detail)
 *     redirect: the page goes to the authorize page; the answer comes back to
 *            redirectURI (form_post when a scope is asked, else fragment)
 *   An element #appleid-signin is rendered as Apple's button from its data-*
 *   attributes (data-color, data-border, data-type, data-mode, data-width,
 *   data-height, data-border-radius) and signs in when clicked.
 */
(function () {
  'use strict';

  var script = document.currentScript;
  // The emulator this script came from: its authorize page, and the only
  // origin whose messages are taken as the answer.
  var APPLE = script ? new URL(script.src).origin : window.location.origin;
  var configured = null;

  function meta(name) {
    var element = document.querySelector('meta[name="appleid-signin-' + name + '"]');
    return element ? element.getAttribute('content') : undefined;
  }

  function metaConfig() {
    if (!meta('client-id')) {
      return null;
    }
    return {
      clientId: meta('client-id'),
      scope: meta('scope'),
      redirectURI: meta('redirect-uri'),
      state: meta('state'),
      nonce: meta('nonce'),
      usePopup: meta('use-popup') === 'true'
    };
  }

  function check(config) {
    if (!config || typeof config !== 'object') {
      throw new TypeError('AppleID.auth.init: pass a configuration object');
    }
    if (!config.clientId) {
      throw new TypeError('The "clientId" should not be empty.');
    }
    if (!config.redirectURI) {
      throw new TypeError('The "redirectURI" should not be empty.');
    }
  }

  function authorizeUrl(config, popup) {
    var query = new URLSearchParams();
    var scope = (config.scope || '').trim();
    query.set('client_id', config.clientId);
    query.set('redirect_uri', config.redirectURI);
    query.set('response_type', 'code id_token');
    if (scope) {
      query.set('scope', scope);
    }
    query.set('response_mode', popup ? 'web_message' : scope ? 'form_post' : 'fragment');
    if (config.state) {
      query.set('state', config.state);
    }
    if (config.nonce) {
      query.set('nonce', config.nonce);
    }
    return APPLE + '/auth/authorize?' + query.toString();
  }

  function dispatch(name, detail) {
    document.dispatchEvent(new CustomEvent(name, { detail: detail }));
  }

  function signIn(override) {
    var config = Object.assign({}, configured || metaConfig() || {}, override || {});
    try {
      check(config);
    } catch (error) {
      return Promise.reject(error);
    }
    if (!config.usePopup) {
      window.location.assign(authorizeUrl(config, false));
      return new Promise(function () {});
    }
    return new Promise(function (resolve, reject) {
      var settled = false;
      function fail(error) {
        var detail = { error: error };
        dispatch('AppleIDSignInOnFailure', detail);
        reject(detail);
      }
      var popup = window.open(authorizeUrl(config, true), 'AppleAuthentication',
        'width=640,height=720,menubar=no,toolbar=no');
      if (!popup) {
        fail('popup_blocked_by_browser');
        return;
      }
      function finish() {
        settled = true;
        window.clearInterval(watch);
        window.removeEventListener('message', onMessage);
      }
      function onMessage(event) {
        if (settled || event.origin !== APPLE || event.source !== popup) {
          return;
        }
        var message;
        try {
          message = JSON.parse(event.data);
        } catch (ignored) {
          return;
        }
        if (!message || message.method !== 'oauthDone') {
          return;
        }
        finish();
        try {
          popup.close();
        } catch (ignored) {}
        var data = message.data || {};
        if (data.error) {
          fail(data.error);
          return;
        }
        dispatch('AppleIDSignInOnSuccess', data);
        resolve(data);
      }
      // A closed popup without an answer is the user's doing; the answer may
      // still be on its way (the popup closes itself right after posting).
      var watch = window.setInterval(function () {
        if (popup.closed && !settled) {
          window.setTimeout(function () {
            if (!settled) {
              finish();
              fail('popup_closed_by_user');
            }
          }, 500);
          window.clearInterval(watch);
        }
      }, 250);
      window.addEventListener('message', onMessage);
    });
  }

  var LABELS = { 'sign in': 'Sign in with Apple', 'continue': 'Continue with Apple', 'sign up': 'Sign up with Apple' };
  var LOGO = '<svg viewBox="0 0 24 28" width="1em" height="1.15em" aria-hidden="true" focusable="false">' +
    '<path fill="currentColor" d="M16.6 14.8c0-2.7 2.2-4 2.3-4.1-1.3-1.8-3.2-2.1-3.9-2.1-1.6-.2-3.2 1-4 1-.9 0-2.1-1-3.5-.9-1.8 0-3.4 1-4.3 2.6-1.9 3.2-.5 7.9 1.3 10.5.9 1.3 1.9 2.7 3.3 2.6 1.3-.1 1.8-.8 3.4-.8 1.6 0 2 .8 3.4.8 1.4 0 2.3-1.3 3.2-2.6 1-1.5 1.4-2.9 1.4-3-.1 0-2.6-1-2.6-4z' +
    'M14 7c.7-.9 1.2-2.1 1.1-3.3-1 .1-2.3.7-3 1.6-.7.8-1.2 2-1.1 3.2 1.1.1 2.3-.6 3-1.5z"/></svg>';

  function renderButton() {
    var element = document.getElementById('appleid-signin');
    if (!element || element.getAttribute('data-rendered') === 'true') {
      return;
    }
    var data = element.dataset;
    var white = data.color === 'white';
    var border = data.border === 'true';
    var mode = data.mode || 'center-align';
    var label = LABELS[(data.type || 'sign in').toLowerCase()] || LABELS['sign in'];
    var button = document.createElement('div');
    button.setAttribute('role', 'button');
    button.setAttribute('tabindex', '0');
    button.setAttribute('aria-label', label);
    button.style.cssText = [
      'display:flex', 'align-items:center',
      'justify-content:' + (mode === 'left-align' ? 'flex-start' : 'center'),
      'gap:.4em', 'box-sizing:border-box', 'cursor:pointer', 'user-select:none',
      'font:500 ' + Math.round((parseInt(data.height, 10) || 44) * 0.43) + 'px -apple-system,system-ui,"Helvetica Neue",sans-serif',
      'padding:0 ' + (mode === 'logo-only' ? '0' : '16px'),
      'width:' + (data.width ? (/^\d+$/.test(data.width) ? data.width + 'px' : data.width) : (mode === 'logo-only' ? '44px' : '100%')),
      'height:' + (parseInt(data.height, 10) || 44) + 'px',
      'border-radius:' + (data.borderRadius !== undefined ? data.borderRadius + '%' : '6px'),
      'background:' + (white ? '#fff' : '#000'),
      'color:' + (white ? '#000' : '#fff'),
      'border:' + (border ? '1px solid #000' : '1px solid ' + (white ? '#fff' : '#000'))
    ].join(';');
    button.innerHTML = LOGO + (mode === 'logo-only' ? '' : '<span>' + label + '</span>');
    element.innerHTML = '';
    element.appendChild(button);
    element.setAttribute('data-rendered', 'true');
    function go() {
      signIn().catch(function () {});
    }
    button.addEventListener('click', go);
    button.addEventListener('keydown', function (event) {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        go();
      }
    });
  }

  window.AppleID = {
    auth: {
      init: function (config) {
        check(config);
        configured = Object.assign({}, config);
        renderButton();
      },
      signIn: signIn,
      renderButton: renderButton
    }
  };

  function start() {
    var config = metaConfig();
    if (config && !configured) {
      configured = config;
    }
    if (configured) {
      renderButton();
    }
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
