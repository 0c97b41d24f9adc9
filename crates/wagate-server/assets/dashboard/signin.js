// Sign in with an API key (GET /v1/account tells whether it works and whose it is) or with the
// admin token (GET /admin/v1/accounts answers only to it). API keys start with wgk_; anything
// else is tried as the admin token.
import { api } from './api.js';
import { field, fill, h } from './dom.js';
import * as session from './session.js';

/** signedIn({role: 'account', account}) or signedIn({role: 'operator'}). */
export function signInView(root, signedIn) {
  const input = h('input', {
    id: 'api-key',
    name: 'apiKey',
    type: 'password',
    required: true,
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'wgk_…',
  });
  const error = h('p', { class: 'error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h(
    'form',
    { class: 'card narrow', 'aria-labelledby': 'signin-title' },
    field(
      'API key or admin token',
      input,
      'An API key (wgk_…): the one wagate printed when it first started, or one made for you. The operator signs in with the admin token.',
    ),
    error,
    submit,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    submit.disabled = true;
    fill(error);
    try {
      if (key.startsWith('wgk_')) {
        const account = (await api('/v1/account', { key })).data;
        session.signIn('account', key);
        signedIn({ role: 'account', account });
      } else {
        await api('/admin/v1/accounts?limit=1', { key });
        session.signIn('operator', key);
        signedIn({ role: 'operator' });
      }
    } catch (e) {
      fill(error, e.message);
      input.focus();
    } finally {
      submit.disabled = false;
    }
  });
  root.append(h('h1', { id: 'signin-title', tabindex: '-1' }, 'Sign in'), form);
}
