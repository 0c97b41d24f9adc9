// The dashboard's entry point: signs in and out, starts the live event stream, and shows the view
// the URL's hash names (#/instances, #/instances/{id}, #/instances/{id}/chats[/{phone}]).
import { api, onUnauthorized } from './api.js';
import { announce, fill, h } from './dom.js';
import * as events from './events.js';
import * as session from './session.js';
import { signInView } from './signin.js';
import { instancesView } from './instances.js';
import { instanceView } from './instance.js';
import { chatsView } from './chats.js';

// Each view is view(root, ...params) → cleanup(); params come from the pattern's groups.
const routes = [
  [/^#\/instances$/, instancesView],
  [/^#\/instances\/([^/]+)$/, instanceView],
  [/^#\/instances\/([^/]+)\/chats(?:\/([^/]+))?$/, chatsView],
];

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
  if (!session.apiKey()) return show(signInView, [signedIn]);
  const hash = location.hash || '#/instances';
  for (const [pattern, view] of routes) {
    const match = hash.match(pattern);
    if (match) return show(view, match.slice(1).map((p) => (p === undefined ? p : decodeURIComponent(p))));
  }
  location.replace('#/instances');
}

function showSession(account) {
  const signedIn = Boolean(account);
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('session').hidden = !signedIn;
  document.getElementById('account').textContent = signedIn ? `${account.name} · ${account.plan}` : '';
}

function signedIn(account) {
  showSession(account);
  events.start(session.apiKey());
  // replaceState, unlike setting location.hash, fires no hashchange: route() once, here.
  if (location.hash === '' || location.hash === '#/') history.replaceState(null, '', '#/instances');
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

// A key kept from earlier in this tab is checked again before it is used.
(async () => {
  if (!session.apiKey()) return route();
  try {
    signedIn((await api('/v1/account')).data);
  } catch (e) {
    if (session.apiKey()) fill(root, h('p', { role: 'alert', class: 'error' }, e.message));
  }
})();
