// An account's API keys, for the Developer Portal (the account's own, /v1/account/keys) and for
// the operator (/admin/v1/accounts/{id}/keys): the list (never a key's secret), a form to make one
// with a name, scopes and an expiry (its secret shown once), and revoking.
import { api, enc } from './api.js';
import { announce, checkboxes, confirmButton, field, fill, h, onSubmit, shownOnce, when } from './dom.js';
import { DEFAULT_SCOPES, SCOPES } from './vocabulary.js';

function state(key) {
  if (key.revokedAt) return ['revoked', `revoked ${when(key.revokedAt)}`];
  if (key.expiresAt && new Date(key.expiresAt) <= new Date()) return ['expired', `expired ${when(key.expiresAt)}`];
  return ['active', key.expiresAt ? `expires ${when(key.expiresAt)}` : 'never expires'];
}

/** {el, load}: base is the keys collection's path; onError shows an ApiError. */
export function keysSection(base, { onError }) {
  const list = h('ul', { class: 'rows', id: 'keys', 'aria-labelledby': 'keys-title' });
  const summary = h('p', { class: 'muted' });
  const shown = h('div');

  function row(key) {
    const [status, detail] = state(key);
    const revoke = status === 'revoked' ? null : confirmButton('Revoke', `Confirm revoking the key ${key.name}`, async () => {
      await api(`${base}/${enc(key.id)}`, { method: 'DELETE' });
      announce(`Key ${key.name} revoked.`);
      await load();
    }, { onError });
    revoke?.setAttribute('aria-label', `Revoke the key ${key.name}`);
    return h('li', { class: 'card row', 'data-key-id': key.id },
      h('h3', {}, key.name),
      h('p', { class: 'muted' },
        h('span', { class: 'badge', 'data-status': status === 'active' ? 'connected' : 'disconnected' }, status),
        ` · ${detail} · created ${when(key.createdAt)}`),
      h('p', { class: 'muted' }, `Scopes: ${key.scopes.join(', ')}`),
      revoke ? h('div', { class: 'actions' }, revoke) : null,
    );
  }

  async function load() {
    const keys = (await api(base)).data;
    fill(list, keys.map(row));
    fill(summary, keys.length === 0 ? 'No key.' : `${keys.length} key${keys.length === 1 ? '' : 's'}; a key's secret is never shown after it is made.`);
  }

  const name = h('input', { id: 'key-name', required: true, maxlength: '100', autocomplete: 'off' });
  const scopes = checkboxes('key-scopes', 'Scopes', SCOPES, DEFAULT_SCOPES);
  const expires = h('input', { id: 'key-expires', type: 'datetime-local' });
  const form = h('form', { class: 'card', 'aria-labelledby': 'new-key-title' },
    h('h2', { id: 'new-key-title' }, 'New API key'),
    field('Name', name),
    scopes.el,
    field('Expires (optional)', expires, 'Local time; the key is refused after it.'),
    h('button', { type: 'submit', class: 'primary' }, 'Create key'),
    shown,
  );
  onSubmit(form, async () => {
    const body = { name: name.value.trim(), scopes: scopes.checked() };
    if (expires.value) body.expiresAt = new Date(expires.value).toISOString();
    const key = (await api(base, { method: 'POST', body })).data;
    form.reset();
    scopes.reset();
    fill(shown, shownOnce('new-key', `API key ${key.name}`, key.key));
    announce(`Key ${key.name} created. It is shown once.`);
    await load();
  }, onError);

  const el = h('section', { 'aria-labelledby': 'keys-title' },
    form,
    h('h2', { id: 'keys-title' }, 'API keys'),
    summary,
    list,
  );
  return { el, load };
}
