// Sign in with an API key: GET /v1/account tells whether the key works and whose it is.
import { api } from './api.js';
import { field, fill, h } from './dom.js';
import * as session from './session.js';

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
    field('API key', input, 'The key wagate printed when it first started, or one made for you.'),
    error,
    submit,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    submit.disabled = true;
    fill(error);
    try {
      const account = (await api('/v1/account', { key })).data;
      session.signIn(key);
      signedIn(account);
    } catch (e) {
      fill(error, e.message);
      input.focus();
    } finally {
      submit.disabled = false;
    }
  });
  root.append(h('h1', { id: 'signin-title', tabindex: '-1' }, 'Sign in'), form);
}
