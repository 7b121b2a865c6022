/*
 * siwa.js: Sign in with Apple on a web page, through a siwa service. No build
 * step, no framework.
 *
 *   <script src="https://login.example.com/siwa.js"></script>
 *   <div data-siwa-button data-type="continue"></div>
 *
 * The button is rendered by Apple's guidelines (Apple's logo, "Sign in with
 * Apple" / "Continue with Apple" / "Sign up with Apple", black or white, an
 * optional outline). A click opens Apple's sign-in in a popup (Sign in with
 * Apple JS); where popups are blocked it falls back to the redirect flow.
 *
 *   Siwa.signIn({popup, redirectURI, returnTo, clientId}) -> Promise<session>
 *     session: the native route's JSON (access_token, refresh_token, user…);
 *     the service also sets its session cookie for same-site pages.
 *   Siwa.me(), Siwa.signOut(), Siwa.deleteAccount(): the cookie session's API.
 *   Events on document: siwa:signed-in (detail: the session), siwa:cancelled,
 *   siwa:error (detail: {error}).
 *
 * Each page that opens the popup must be listed in the service's
 * popup_redirect_uris (and registered with Apple as a return URL); a page on
 * another origin must also be in allowed_web_origins.
 */
(function () {
  'use strict';

  var script = document.currentScript;
  var SERVICE = script ? script.src.replace(/\/siwa\.js(\?.*)?$/, '') : '';
  var APPLE_JS = '__APPLE_JS_URL__';
  var pending = null;
  var prepared = null;

  function loadApple() {
    if (window.AppleID) {
      return Promise.resolve();
    }
    return new Promise(function (resolve, reject) {
      var tag = document.createElement('script');
      tag.src = APPLE_JS;
      tag.onload = function () { resolve(); };
      tag.onerror = function () { reject({ error: 'apple_js_unavailable' }); };
      document.head.appendChild(tag);
    });
  }

  function post(path, body) {
    return fetch(SERVICE + path, {
      method: 'POST',
      credentials: 'include',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        if (!response.ok) {
          throw { error: json.error || 'http_' + response.status, message: json.message, request_id: json.request_id };
        }
        return json;
      });
    });
  }

  function here() {
    return window.location.origin + window.location.pathname;
  }

  // A state is single use: one is fetched ahead (when the pointer nears the
  // button), so that a click opens the popup at once (browsers block a popup
  // opened long after the click).
  function prepare(options) {
    options = options || {};
    var body = { redirect_uri: options.redirectURI || here() };
    if (options.clientId) {
      body.client_id = options.clientId;
    }
    pending = Promise.all([post('/auth/apple/web/begin', body), loadApple()]).then(function (results) {
      prepared = results[0];
      return prepared;
    });
    pending.catch(function () {});
    return pending;
  }

  function emit(name, detail) {
    document.dispatchEvent(new CustomEvent(name, { detail: detail }));
  }

  function redirect(options) {
    var url = SERVICE + '/auth/apple/login?return_to=' + encodeURIComponent(options.returnTo || window.location.href);
    if (options.clientId) {
      url += '&client_id=' + encodeURIComponent(options.clientId);
    }
    window.location.assign(url);
    return new Promise(function () {});
  }

  function popupWith(config, options) {
    prepared = null;
    pending = null;
    window.AppleID.auth.init({
      clientId: config.client_id,
      scope: config.scope,
      redirectURI: config.redirect_uri,
      state: config.state,
      nonce: config.nonce,
      usePopup: true
    });
    return window.AppleID.auth.signIn().then(function (answer) {
      return post('/auth/apple/web/complete', {
        code: answer.authorization.code,
        id_token: answer.authorization.id_token,
        state: answer.authorization.state,
        user: answer.user
      });
    }, fallBack(options));
  }

  // Where the popup cannot run (blocked, or not set up for this page), the
  // redirect flow still can.
  var REDIRECT_INSTEAD = ['popup_blocked_by_browser', 'popup_not_configured', 'redirect_uri_not_allowed'];
  function fallBack(options) {
    return function (failure) {
      if (failure && REDIRECT_INSTEAD.indexOf(failure.error) >= 0) {
        return redirect(options);
      }
      throw failure;
    };
  }

  function signIn(options) {
    options = options || {};
    var result;
    if (options.popup === false) {
      return redirect(options);
    }
    if (prepared) {
      result = popupWith(prepared, options);
    } else {
      result = (pending || prepare(options)).then(function (config) { return popupWith(config, options); }, fallBack(options));
    }
    return result.then(function (session) {
      emit('siwa:signed-in', session);
      prepare(options);
      return session;
    }, function (failure) {
      var error = (failure && failure.error) || 'sign_in_failed';
      if (error === 'popup_closed_by_user' || error === 'user_cancelled_authorize') {
        emit('siwa:cancelled', { error: error });
      } else {
        emit('siwa:error', failure);
      }
      prepare(options);
      throw failure;
    });
  }

  var LABELS = { 'sign-in': 'Sign in with Apple', 'continue': 'Continue with Apple', 'sign-up': 'Sign up with Apple' };
  var LOGO = '<svg viewBox="0 0 24 28" width="18" height="21" aria-hidden="true" focusable="false">' +
    '<path fill="currentColor" d="M16.6 14.8c0-2.7 2.2-4 2.3-4.1-1.3-1.8-3.2-2.1-3.9-2.1-1.6-.2-3.2 1-4 1-.9 0-2.1-1-3.5-.9-1.8 0-3.4 1-4.3 2.6-1.9 3.2-.5 7.9 1.3 10.5.9 1.3 1.9 2.7 3.3 2.6 1.3-.1 1.8-.8 3.4-.8 1.6 0 2 .8 3.4.8 1.4 0 2.3-1.3 3.2-2.6 1-1.5 1.4-2.9 1.4-3-.1 0-2.6-1-2.6-4z' +
    'M14 7c.7-.9 1.2-2.1 1.1-3.3-1 .1-2.3.7-3 1.6-.7.8-1.2 2-1.1 3.2 1.1.1 2.3-.6 3-1.5z"/></svg>';

  // Apple's Human Interface Guidelines: the logo and the title in the
  // system font, black or white (white with an outline on white pages), at
  // least 140 x 30 points, corners rounded a little.
  function renderButton(element, options) {
    options = Object.assign({}, element.dataset || {}, options || {});
    var white = options.color === 'white';
    var label = LABELS[options.type] || LABELS['sign-in'];
    var button = document.createElement('button');
    button.type = 'button';
    button.className = 'siwa-button';
    button.setAttribute('aria-label', label);
    button.style.cssText = [
      'display:inline-flex', 'align-items:center', 'justify-content:center', 'gap:8px',
      'min-width:200px', 'height:44px', 'padding:0 20px', 'border-radius:8px', 'cursor:pointer',
      'font:600 17px -apple-system,system-ui,"Helvetica Neue",sans-serif',
      'background:' + (white ? '#fff' : '#000'), 'color:' + (white ? '#000' : '#fff'),
      'border:1px solid ' + (white && options.border !== 'false' ? '#000' : white ? '#fff' : '#000')
    ].join(';');
    button.innerHTML = LOGO + '<span>' + label + '</span>';
    button.addEventListener('click', function () {
      signIn({
        popup: options.popup !== 'false' && options.popup !== false,
        redirectURI: options.redirectUri || options.redirectURI,
        returnTo: options.returnTo,
        clientId: options.clientId
      }).catch(function () {});
    });
    element.innerHTML = '';
    element.appendChild(button);
    // Fetched when the user comes near the button, not on every page view.
    var ready = function () {
      if (!prepared && !pending) {
        prepare({ redirectURI: options.redirectUri || options.redirectURI, clientId: options.clientId });
      }
    };
    ['pointerenter', 'focus', 'touchstart'].forEach(function (name) {
      button.addEventListener(name, ready, { passive: true });
    });
    return button;
  }

  function me() {
    return fetch(SERVICE + '/me', { credentials: 'include' }).then(function (response) {
      return response.ok ? response.json() : null;
    });
  }

  function signOut() {
    return fetch(SERVICE + '/session/logout', { method: 'POST', credentials: 'include' });
  }

  function deleteAccount() {
    return fetch(SERVICE + '/me', { method: 'DELETE', credentials: 'include' }).then(function (response) {
      if (!response.ok) {
        throw { error: 'http_' + response.status };
      }
    });
  }

  window.Siwa = { signIn: signIn, renderButton: renderButton, prepare: prepare, me: me, signOut: signOut, deleteAccount: deleteAccount };

  function start() {
    var elements = document.querySelectorAll('[data-siwa-button]');
    for (var i = 0; i < elements.length; i++) {
      renderButton(elements[i]);
    }
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
