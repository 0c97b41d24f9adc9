// One account, for the operator: its plan (changed here) and limits, and its API keys (made and
// revoked here).
import { api, enc } from './api.js';
import { announce, facts, fill, h, when } from './dom.js';
import { keysSection } from './api_keys.js';
import { planPicker } from './operator_accounts.js';

export function accountView(root, id) {
  const error = h('p', { class: 'error', role: 'alert' });
  const showError = (e) => fill(error, e.message);
  const title = h('h1', { tabindex: '-1' }, 'Account');
  const el = { plan: h('dd', { id: 'account-plan' }), limit: h('dd'), created: h('dd'), id: h('dd', { class: 'mono' }, id) };
  const plan = planPicker('change-plan', null);
  const planForm = h('form', { class: 'inline-form', 'aria-label': 'Change the plan' },
    h('div', { class: 'field' }, h('label', { for: 'change-plan' }, 'Plan'), plan),
    h('button', { type: 'submit' }, 'Change plan'),
  );
  const keys = keysSection(`/admin/v1/accounts/${enc(id)}/keys`, { onError: showError });

  function show(a) {
    fill(title, a.name);
    document.title = `${a.name} · wagate`;
    fill(el.plan, a.plan);
    fill(el.limit, a.instanceLimit === null ? 'unlimited' : String(a.instanceLimit));
    fill(el.created, when(a.createdAt));
    plan.value = a.plan;
  }
  planForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    fill(error);
    try {
      const a = (await api(`/admin/v1/accounts/${enc(id)}`, { method: 'PATCH', body: { plan: plan.value } })).data;
      show(a);
      announce(`Plan changed to ${a.plan}.`);
    } catch (e) {
      showError(e);
    }
  });

  root.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/accounts' }, '← All accounts')),
    title,
    error,
    h('section', { class: 'card', 'aria-labelledby': 'acct-title' },
      h('h2', { id: 'acct-title' }, 'Account'),
      facts(['Id', el.id], ['Plan', el.plan], ['Instances allowed', el.limit], ['Created', el.created]),
      planForm,
    ),
    keys.el,
  );
  (async () => {
    try {
      show((await api(`/admin/v1/accounts/${enc(id)}`)).data);
      await keys.load();
    } catch (e) {
      showError(e);
    }
  })();
}
