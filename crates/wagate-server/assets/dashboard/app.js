// The dashboard's entry point: signs in and out, starts the live event stream, and shows the view
// the URL's hash names. An account sees its instances (#/instances, #/instances/{id},
// #/instances/{id}/chats[/{phone}]), webhooks (#/webhooks, #/webhooks/{id}) and the Developer
// Portal (#/keys); the operator sees the accounts (#/accounts, #/accounts/{id}).
import { api, onUnauthorized } from './api.js';
import { announce, fill, h } from './dom.js';
import * as events from './events.js';
import * as session from './session.js';
import { signInView } from './signin.js';
import { instancesView } from './instances.js';
import { instanceView } from './instance.js';
import { chatsView } from './chats.js';
import { webhooksView } from './webhooks.js';
import { webhookView } from './webhook.js';
import { keysView } from './keys.js';
import { accountsView } from './operator_accounts.js';
import { accountView } from './operator_account.js';

// Each view is view(root, ...params) → cleanup(); params come from the pattern's groups.
const ROUTES = {
  account: {
    home: '#/instances',
    routes: [
      [/^#\/instances$/, instancesView],
      [/^#\/instances\/([^/]+)$/, instanceView],
      [/^#\/instances\/([^/]+)\/chats(?:\/([^/]+))?$/, chatsView],
      [/^#\/webhooks$/, webhooksView],
      [/^#\/webhooks\/([^/]+)$/, webhookView],
      [/^#\/keys$/, keysView],
    ],
  },
  operator: {
    home: '#/accounts',
    routes: [
      [/^#\/accounts$/, accountsView],
      [/^#\/accounts\/([^/]+)$/, accountView],
    ],
  },
};

const root = document.getElementById('app');
let cleanup = () => {};
let shownView = null;

function show(view, params) {
  cleanup();
  fill(root);
  const sameView = view === shownView;
  shownView = view;
  cleanup = view(root, ...params) ?? (() => {});
  // Move focus to the new page's heading, as a page load would, except between chats of one view.
  if (!sameView) root.querySelector('h1')?.focus();
}

function route() {
  const role = session.role();
  if (!role) return show(signInView, [signedIn]);
  const { home, routes } = ROUTES[role];
  const hash = location.hash || home;
  for (const [pattern, view] of routes) {
    const match = hash.match(pattern);
    if (match) return show(view, match.slice(1).map((p) => (p === undefined ? p : decodeURIComponent(p))));
  }
  location.replace(home);
}

/** The header for who is signed in: their links, their name, the stream's state. */
function showSession(who) {
  const role = who?.role ?? null;
  document.getElementById('nav').hidden = !role;
  for (const li of document.querySelectorAll('#nav [data-role]')) li.hidden = li.dataset.role !== role;
  document.getElementById('session').hidden = !role;
  document.getElementById('stream-state').hidden = role !== 'account';
  document.getElementById('account').textContent =
    role === 'account' ? `${who.account.name} · ${who.account.plan}` : role === 'operator' ? 'Operator' : '';
  document.querySelector('.brand').setAttribute('href', role ? ROUTES[role].home : '#/');
}

function signedIn(who) {
  showSession(who);
  // The event stream takes an API key; the operator's view has no account events.
  if (who.role === 'account') events.start(session.token());
  const home = ROUTES[who.role].home;
  // replaceState, unlike setting location.hash, fires no hashchange: route() once, here.
  if (!ROUTES[who.role].routes.some(([p]) => p.test(location.hash))) history.replaceState(null, '', home);
  route();
}

function signOut(message) {
  session.signOut();
  events.stop();
  showSession(null);
  route();
  if (message) announce(message);
}

const STREAM_TEXT = {
  off: 'Live updates off',
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
};
events.onState((state) => {
  const el = document.getElementById('stream-state');
  el.textContent = STREAM_TEXT[state];
  el.dataset.state = state;
});

document.getElementById('sign-out').addEventListener('click', () => signOut('Signed out.'));
onUnauthorized((e) => signOut(`Signed out: ${e.message}`));
window.addEventListener('hashchange', route);

// A credential kept from earlier in this tab is checked again before it is used.
(async () => {
  const role = session.role();
  if (!role) return route();
  try {
    if (role === 'account') signedIn({ role, account: (await api('/v1/account')).data });
    else {
      await api('/admin/v1/accounts?limit=1');
      signedIn({ role });
    }
  } catch (e) {
    if (session.role()) fill(root, h('p', { role: 'alert', class: 'error' }, e.message));
  }
})();
