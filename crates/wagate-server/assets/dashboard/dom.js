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
