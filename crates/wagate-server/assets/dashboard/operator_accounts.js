// The operator's view (signed in with the admin token): every account with its plan, and a form
// to create one, which answers with the account's first API key, shown once.
import { api, enc } from './api.js';
import { announce, field, fill, h, onSubmit, shownOnce, when } from './dom.js';

export const PLANS = ['free', 'starter', 'pro', 'enterprise'];

export function planPicker(id, selected) {
  return h('select', { id }, PLANS.map((p) => h('option', { value: p, selected: p === selected }, p)));
}

export function accountsView(root) {
  const error = h('p', { class: 'error', role: 'alert' });
  const showError = (e) => fill(error, e.message);
  const list = h('ul', { class: 'rows', id: 'accounts', 'aria-labelledby': 'accounts-title' });
  const summary = h('p', { class: 'muted' });
  const shown = h('div');

  async function load() {
    try {
      const res = await api('/admin/v1/accounts?limit=100');
      fill(list, res.data.map((a) => h('li', { class: 'card row', 'data-account-id': a.id },
        h('h3', {}, h('a', { href: `#/accounts/${enc(a.id)}` }, a.name)),
        h('p', { class: 'muted' }, `${a.plan} · ${a.instanceLimit ?? 'unlimited'} instance${a.instanceLimit === 1 ? '' : 's'} · created ${when(a.createdAt)}`),
        h('p', { class: 'mono muted' }, a.id),
      )));
      const { total } = res.pagination;
      fill(summary, `${total} account${total === 1 ? '' : 's'}${total > res.data.length ? `, the first ${res.data.length} shown` : ''}.`);
    } catch (e) {
      showError(e);
    }
  }

  const name = h('input', { id: 'account-name', required: true, maxlength: '100', autocomplete: 'off' });
  const plan = planPicker('account-plan', 'free');
  const form = h('form', { class: 'card', 'aria-labelledby': 'new-account-title' },
    h('h2', { id: 'new-account-title' }, 'New account'),
    field('Name', name),
    field('Plan', plan),
    h('button', { type: 'submit', class: 'primary' }, 'Create account'),
    shown,
  );
  onSubmit(form, async () => {
    fill(error);
    const created = (await api('/admin/v1/accounts', { method: 'POST', body: { name: name.value.trim(), plan: plan.value } })).data;
    form.reset();
    fill(shown, shownOnce('new-account-key', `First API key of ${created.account.name}`, created.apiKey.key));
    announce(`Account ${created.account.name} created. Its first key is shown once.`);
    await load();
  }, showError);

  root.append(
    h('h1', { tabindex: '-1' }, 'Accounts'),
    error,
    form,
    h('h2', { id: 'accounts-title' }, 'All accounts'),
    summary,
    list,
  );
  load();
}
