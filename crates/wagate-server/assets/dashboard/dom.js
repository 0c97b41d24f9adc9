// Building the page: elements are made with h() and text is always set as text, never as HTML,
// because names and messages come from WhatsApp contacts.

/** h('button', {class: 'x', onclick: fn, 'aria-label': '…'}, 'text', child, …) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of el. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Tells screen readers about a change made without them (the page's aria-live region). */
export function announce(text) {
  const region = document.getElementById('announcer');
  if (!region) return;
  // Clearing first makes the same sentence announced twice in a row.
  region.textContent = '';
  setTimeout(() => { region.textContent = text; }, 50);
}

/** A labelled form field: <div class="field"><label for=id>…</label><input id=id …></div>. */
export function field(label, control, hint) {
  const hintEl = hint ? h('p', { class: 'hint', id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintEl);
}

/** "2026-12-03T15:35:15Z" → the local date and time, or "—". */
export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** A button that does an async action once at a time and reports its error, if any. */
export function actionButton(label, run, { onError, className } = {}) {
  const button = h('button', { type: 'button', class: className }, label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await run(button);
    } catch (e) {
      onError?.(e);
    } finally {
      if (button.isConnected) button.disabled = false;
    }
  });
  return button;
}

/**
 * A button that asks again on its first press (no dialog: it stays keyboard- and test-friendly)
 * and runs on the second. confirmName is the accessible name while it waits to be confirmed.
 */
export function confirmButton(label, confirmName, run, { onError } = {}) {
  const button = h('button', { type: 'button', class: 'danger' }, label);
  let armed = false;
  let disarm;
  let name = null; // the accessible name a caller gave it, back once it is no longer armed
  const reset = () => {
    armed = false;
    button.textContent = label;
    if (name === null) button.removeAttribute('aria-label');
    else button.setAttribute('aria-label', name);
  };
  button.addEventListener('click', async () => {
    if (!armed) {
      armed = true;
      name = button.getAttribute('aria-label');
      button.textContent = `Confirm ${label.toLowerCase()}`;
      button.setAttribute('aria-label', confirmName);
      disarm = setTimeout(reset, 6000);
      return;
    }
    clearTimeout(disarm);
    button.disabled = true;
    try {
      await run();
    } catch (e) {
      onError?.(e);
    } finally {
      if (button.isConnected) {
        button.disabled = false;
        reset();
      }
    }
  });
  return button;
}

/**
 * A secret the server shows only once (an API key, a signing secret, an inbound URL), in a box
 * that says so, ready to be selected and copied.
 */
export function shownOnce(id, label, value) {
  const input = h('input', { id, type: 'text', readonly: true, value, spellcheck: 'false', autocomplete: 'off' });
  const copy = h('button', { type: 'button' }, 'Copy');
  copy.setAttribute('aria-label', `Copy the ${label.toLowerCase()}`);
  copy.addEventListener('click', async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(value);
      announce('Copied.');
    } catch {
      // No clipboard on a plain-HTTP origin: the text is selected, ready for Ctrl+C.
      announce('Selected: copy it with Ctrl+C.');
    }
  });
  return h(
    'div',
    { class: 'card shown-once', role: 'status' },
    h('label', { for: id }, label),
    h('p', { class: 'hint' }, 'Copy it now: it is not shown again.'),
    h('div', { class: 'copy-row' }, input, copy),
  );
}

/** A group of checkboxes: values, those of them checked at first; read back with checked(). */
export function checkboxes(id, legend, values, checkedAtFirst) {
  const boxes = values.map((v, i) => {
    const input = h('input', { type: 'checkbox', id: `${id}-${i}`, value: v, checked: checkedAtFirst.includes(v) });
    return h('label', { class: 'check', for: input.id }, input, ' ', v);
  });
  const fieldset = h('fieldset', { class: 'checks', id }, h('legend', {}, legend), boxes);
  return {
    el: fieldset,
    checked: () => [...fieldset.querySelectorAll('input:checked')].map((i) => i.value),
    reset: () => {
      for (const i of fieldset.querySelectorAll('input')) i.checked = checkedAtFirst.includes(i.value);
    },
  };
}

/** facts(['Label', ddElement], …) → a <dl class="facts"> of label/value pairs. */
export function facts(...pairs) {
  return h('dl', { class: 'facts' }, pairs.map(([label, el]) => [h('dt', {}, label), el]));
}

/**
 * Runs run() on the form's submit, once at a time (its submit button disabled meanwhile);
 * an error goes to onError.
 */
export function onSubmit(form, run, onError) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      await run();
    } catch (e) {
      onError(e);
    } finally {
      button.disabled = false;
    }
  });
}
