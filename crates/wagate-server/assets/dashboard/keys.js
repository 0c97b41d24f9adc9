// The Developer Portal: the account's plan, limits and usage, and its API keys (made and revoked
// here with a key that has keys:write).
import { api } from './api.js';
import { facts, fill, h } from './dom.js';
import { keysSection } from './api_keys.js';

const perMinute = (n) => (n === null || n === undefined ? 'no limit' : `${n} a minute`);

export function keysView(root) {
  const error = h('p', { class: 'error', role: 'alert' });
  const showError = (e) => fill(error, e.message);
  const account = h('section', { class: 'card', 'aria-labelledby': 'plan-title' }, h('h2', { id: 'plan-title' }, 'Plan and usage'));
  const keysSlot = h('div');

  root.append(h('h1', { tabindex: '-1' }, 'Developer Portal'), error, account, keysSlot);
  (async () => {
    try {
      const a = (await api('/v1/account')).data;
      const limit = a.instanceLimit ?? 'unlimited';
      account.append(
        facts(
          ['Account', h('dd', {}, a.name)],
          ['Plan', h('dd', { id: 'account-plan' }, a.plan)],
          ['Instances', h('dd', { id: 'account-usage' }, `${a.usage.instances} of ${limit}`)],
          ['Messages', h('dd', {}, perMinute(a.rateLimits.messages))],
          ['Instance calls', h('dd', {}, perMinute(a.rateLimits.instances))],
          ['Webhook calls', h('dd', {}, perMinute(a.rateLimits.webhooks))],
          ['All calls', h('dd', {}, perMinute(a.rateLimits.general))],
          ['This key\'s scopes', h('dd', {}, a.keyScopes.join(', '))],
        ),
      );
      if (!a.keyScopes.includes('keys:write')) {
        fill(keysSlot, h('p', { class: 'card' }, 'This key cannot manage keys: that needs the keys:write scope, which the account\'s first key has.'));
        return;
      }
      const keys = keysSection('/v1/account/keys', { onError: showError });
      fill(keysSlot, keys.el);
      await keys.load();
    } catch (e) {
      showError(e);
    }
  })();
}
