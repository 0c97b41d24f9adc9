// A real browser (Debian's Chromium, driven by playwright-core) uses the dashboard at / of a
// running `wagate serve --sandbox`, as a person would: signs in with the printed key (by
// keyboard), creates an instance, connects it and sees the QR, which this script scans through
// /sandbox/v1/scan; the page must then show `connected` and the phone without a reload. It sends a
// message and waits for its status to reach `read`, and sees a message from a virtual contact
// appear. It subscribes a webhook to a receiver run here (which fails its first delivery), sees
// the failed delivery appear in the log, retries it and sees it succeed; makes an API key in the
// Developer Portal (shown once, then only its name) and revokes it; and, signed in with the admin
// token, sees the accounts and their keys. Then, 390 px wide, no page may scroll sideways,
// every control must take focus by Tab, and axe-core may find nothing serious or critical.
// Every request that leaves the server is refused and fails the check, as does any script
// error. Screenshots go to target/browser/dashboard/. Exits 1 on any failure.
//
// Usage: node scripts/browser/dashboard.js http://127.0.0.1:PORT wgk_… ADMIN_TOKEN
const fs = require('fs');
const http = require('http');
const path = require('path');
const { chromium } = require('playwright-core');

const [base, key, adminToken] = process.argv.slice(2);
if (!base || !key || !adminToken) {
  console.error('usage: node scripts/browser/dashboard.js <base-url> <api-key> <admin-token>');
  process.exit(2);
}
const shotsDir = path.join(__dirname, '..', '..', 'target', 'browser', 'dashboard');
const TIMEOUT = 45000; // two slow cores: waits are generous, but they are waits, not sleeps
const OWN_PHONE = '5511900000001';
const CONTACT = '5511999999999';

const outside = [];
const pageErrors = [];
const badAssets = [];
let shotNo = 0;
let stepName = 'start';

function fail(message) {
  throw new Error(message);
}

/** The API, from Node: what the test does as "the phone" or "the contact", not as the page. */
async function api(method, route, body, bearer = key) {
  const res = await fetch(`${base}${route}`, {
    method,
    headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => null);
  return { status: res.status, json };
}

/**
 * A webhook receiver on loopback: it answers 500 to the first delivery and 200 to the rest, and
 * keeps what it got ({event, webhookId, status}).
 */
function startReceiver() {
  const received = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const status = received.length === 0 ? 500 : 200;
      let event = null;
      try { event = JSON.parse(body).event; } catch { /* kept as null */ }
      received.push({ event, webhookId: req.headers['webhook-id'], status });
      res.writeHead(status, { 'Content-Type': 'text/plain' }).end(status === 200 ? 'ok' : 'not yet');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, received, url: `http://127.0.0.1:${server.address().port}/hooks/wagate` })));
}

(async () => {
  const started = Date.now();
  const receiver = await startReceiver();
  fs.mkdirSync(shotsDir, { recursive: true });
  for (const f of fs.readdirSync(shotsDir)) if (f.endsWith('.png')) fs.rmSync(path.join(shotsDir, f));

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${base}/`)) return route.continue();
    outside.push(url);
    return route.abort();
  });
  page.on('pageerror', (e) => pageErrors.push(`${stepName}: ${e}`));
  page.on('response', (res) => {
    const u = res.url();
    if ((u === `${base}/` || u.startsWith(`${base}/dashboard/`)) && res.status() >= 400) {
      badAssets.push(`${u} → ${res.status()}`);
    }
  });

  async function step(name, fn) {
    stepName = name;
    const t0 = Date.now();
    await fn();
    shotNo += 1;
    const file = `${String(shotNo).padStart(2, '0')}-${name}.png`;
    await page.screenshot({ path: path.join(shotsDir, file), fullPage: true });
    console.log(`  ok ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
  const heading = (text) => page.locator('h1', { hasText: text }).waitFor();
  // Hash routes are changes within the same document; a reload would lose this mark.
  const markDocument = () => page.evaluate(() => { window.__sameDocument = true; });
  const assertSameDocument = async (what) => {
    if (!(await page.evaluate(() => window.__sameDocument === true))) fail(`the page reloaded ${what}`);
  };
  const exactText = (locator, text) =>
    page.waitForFunction(
      ([sel, t]) => [...document.querySelectorAll(sel)].some((e) => e.textContent.trim() === t && e.offsetParent !== null),
      [locator, text],
    );

  try {
    let instanceId;

    await step('sign-in', async () => {
      await page.goto(`${base}/`);
      await page.locator('#api-key').waitFor();
      // Keyboard only: Tab until the key field has focus, type, Enter.
      for (let i = 0; i < 15; i += 1) {
        if (await page.evaluate(() => document.activeElement?.id === 'api-key')) break;
        await page.keyboard.press('Tab');
      }
      if (!(await page.evaluate(() => document.activeElement?.id === 'api-key'))) {
        fail('the API key field cannot be reached with Tab');
      }
      await page.keyboard.type('wgk_00000000000000000000000000_wrong');
      await page.keyboard.press('Enter');
      // The API's own message is shown.
      await page.locator('p.error[role=alert]', { hasText: /invalid|revoked/i }).waitFor();
      await page.locator('#api-key').fill('');
      await page.locator('#api-key').focus();
      await page.keyboard.type(key);
      await page.keyboard.press('Enter');
      await heading('Instances');
      await page.locator('#stream-state[data-state=live]').waitFor();
    });

    await step('create-instance', async () => {
      await page.locator('#instance-name').focus();
      await page.keyboard.type('Team phone');
      await page.keyboard.press('Enter');
      const row = page.locator('li.instance', { has: page.locator('h3', { hasText: 'Team phone' }) });
      await row.waitFor();
      instanceId = await row.getAttribute('data-instance-id');
      if (!instanceId?.startsWith('inst_')) fail(`no instance id on the new row (${instanceId})`);
      await markDocument();
    });

    await step('qr-shown', async () => {
      await page.getByRole('button', { name: 'Connect Team phone', exact: true }).click();
      await page.waitForFunction((id) => location.hash === `#/instances/${id}`, instanceId);
      await heading('Team phone');
      await page.waitForFunction(() => document.querySelector('#qr')?.getAttribute('src')?.startsWith('data:image/png;base64,'));
      await page.locator('#qr').waitFor({ state: 'visible' });
      await exactText('#instance-status .badge', 'waiting for scan');
    });

    await step('scanned-connected', async () => {
      // The QR the page shows is the one the "phone" scans; it may be renewed meanwhile.
      let scanned = null;
      for (let attempt = 0; attempt < 3 && !scanned; attempt += 1) {
        const qrCode = await page.locator('#qr').getAttribute('src');
        const res = await api('POST', '/sandbox/v1/scan', { qrCode, phone: OWN_PHONE, profileName: 'Team' });
        if (res.status === 200) scanned = res.json;
        else console.log(`  scan refused (${res.status} ${JSON.stringify(res.json?.error)}), trying the current QR`);
      }
      if (!scanned) fail('the sandbox refused every QR code the page showed');
      await exactText('#instance-status .badge', 'connected');
      await exactText('#instance-phone', OWN_PHONE);
      await page.locator('#qr').waitFor({ state: 'hidden' });
      await assertSameDocument('while connecting');
    });

    let messageId;
    await step('sent-read', async () => {
      await page.getByRole('link', { name: 'Chats', exact: true }).click();
      await heading('Chats');
      // Every status the page shows for a message, in order, to report the path it took.
      await page.evaluate(() => {
        window.__statuses = {};
        new MutationObserver(() => {
          for (const el of document.querySelectorAll('li[data-message-id] .msg-status')) {
            const id = el.closest('li').dataset.messageId;
            const seen = (window.__statuses[id] ??= []);
            const s = el.textContent.trim();
            if (s && seen[seen.length - 1] !== s) seen.push(s);
          }
        }).observe(document.body, { subtree: true, childList: true, characterData: true });
      });
      await page.locator('#send-to').fill(CONTACT);
      await page.locator('#send-text').fill('Olá do painel');
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.url() === `${base}/v1/messages/send` && r.request().method() === 'POST'),
        page.getByRole('button', { name: 'Send', exact: true }).click(),
      ]);
      const sent = await response.json();
      if (!sent.success || !sent.messageId) fail(`sending answered ${response.status()} ${JSON.stringify(sent)}`);
      messageId = sent.messageId;
      const status = `li[data-message-id="${messageId}"] .msg-status`;
      await page.locator(`li[data-message-id="${messageId}"] .msg-text`, { hasText: 'Olá do painel' }).waitFor();
      await exactText(status, 'read');
      const path = await page.evaluate((id) => window.__statuses[id] ?? [], messageId);
      console.log(`     statuses shown: ${path.join(' → ')}`);
      await assertSameDocument('while sending');
    });

    await step('received', async () => {
      const res = await api('POST', '/sandbox/v1/messages', {
        to: OWN_PHONE, from: '5511977776666', fromName: 'João', message: 'Oi do contato',
      });
      if (res.status !== 200) fail(`the sandbox refused the incoming message: ${res.status} ${JSON.stringify(res.json)}`);
      // It shows up in the chat list, live; opening the chat shows it among the messages.
      await page.locator('.chats', { hasText: 'Oi do contato' }).waitFor();
      await page.locator('.chats a', { hasText: 'João' }).click();
      await page.locator('li.msg.in .msg-text', { hasText: 'Oi do contato' }).waitFor();
      await assertSameDocument('while receiving');
    });

    await step('resumed-after-drop', async () => {
      // Cut the network under the event stream, let a message arrive meanwhile: the page must
      // reconnect with Last-Event-ID and show it, still without a reload.
      const resumes = [];
      const onRequest = (r) => {
        if (r.url().startsWith(`${base}/v1/events/stream`) && r.headers()['last-event-id']) resumes.push(r.headers()['last-event-id']);
      };
      page.on('request', onRequest);
      await context.setOffline(true); // new requests fail…
      await page.evaluate(() => window.stop()); // …and this ends the open one
      await page.locator('#stream-state[data-state=reconnecting]').waitFor();
      const res = await api('POST', '/sandbox/v1/messages', {
        to: OWN_PHONE, from: '5511977776666', fromName: 'João', message: 'Enquanto você estava fora',
      });
      if (res.status !== 200) fail(`the sandbox refused the incoming message: ${res.status} ${JSON.stringify(res.json)}`);
      await context.setOffline(false);
      await page.locator('li.msg.in .msg-text', { hasText: 'Enquanto você estava fora' }).waitFor();
      page.off('request', onRequest);
      if (!resumes.length || !resumes[0].startsWith('evt_')) fail('the stream was reopened without Last-Event-ID');
      await page.locator('#stream-state[data-state=live]').waitFor();
      await assertSameDocument('while the stream was down');
    });

    let webhookId;
    await step('webhook-created', async () => {
      await page.getByRole('link', { name: 'Webhooks', exact: true }).click();
      await heading('Webhooks');
      await page.locator('#webhook-name').fill('Receiver');
      await page.locator('#webhook-url').fill(receiver.url);
      await page.locator('#webhook-instance').selectOption({ label: 'Team phone' });
      // The page offers the server's own event names, the default ones ticked.
      if (!(await page.locator('#webhook-events input[value="message.received"]').isChecked())) fail('message.received is not ticked by default');
      if (await page.locator('#webhook-events input[value="presence.updated"]').isChecked()) fail('presence.updated is ticked by default');
      await page.getByRole('button', { name: 'Create subscription', exact: true }).click();
      const secret = await page.locator('#new-webhook-secret').inputValue();
      if (!secret.startsWith('whs_')) fail(`the signing secret shown is "${secret}"`);
      const row = page.locator('li[data-webhook-id]', { hasText: 'Receiver' });
      await row.waitFor();
      webhookId = await row.getAttribute('data-webhook-id');
      if (await row.evaluate((el, sec) => el.textContent.includes(sec), secret)) fail('the secret is shown in the list');
    });

    await step('delivery-failed-then-retried', async () => {
      await page.getByRole('link', { name: 'Receiver', exact: true }).click();
      await heading('Receiver');
      await page.locator('#log-summary', { hasText: 'No delivery yet' }).waitFor();
      // An event of the instance: the receiver refuses its delivery, and the log shows it live.
      const res = await api('POST', '/sandbox/v1/messages', {
        to: OWN_PHONE, from: '5511977776666', fromName: 'João', message: 'Para o webhook',
      });
      if (res.status !== 200) fail(`the sandbox refused the incoming message: ${res.status} ${JSON.stringify(res.json)}`);
      const failed = page.locator('#delivery-log tr[data-log-id]', { hasText: 'message.received' }).filter({ hasText: 'failed' });
      await failed.first().waitFor();
      if (!(await failed.first().textContent()).includes('500')) fail('the failed delivery does not show the receiver\'s 500');
      await failed.first().getByRole('button', { name: /^Retry the message\.received delivery/ }).click();
      const succeeded = page.locator('#delivery-log tr[data-log-id]', { hasText: 'message.received' }).filter({ hasText: 'success' });
      await succeeded.first().waitFor();
      if (!(await succeeded.first().textContent()).includes('200')) fail('the retried delivery does not show the receiver\'s 200');
      // The receiver got the same event twice: refused, then accepted.
      const got = receiver.received.filter((r) => r.event === 'message.received');
      if (got.length < 2 || got[0].status !== 500 || got[1].webhookId !== got[0].webhookId) {
        fail(`the receiver got ${JSON.stringify(receiver.received)}`);
      }
      await assertSameDocument('while the delivery log changed');
    });

    await step('webhook-test-and-pause', async () => {
      await page.getByRole('button', { name: 'Send test event', exact: true }).click();
      await page.locator('#test-result', { hasText: 'success' }).waitFor();
      await page.getByRole('button', { name: 'Pause', exact: true }).click();
      await exactText('#webhook-status .badge', 'paused');
      await page.getByRole('button', { name: 'Resume', exact: true }).click();
      await exactText('#webhook-status .badge', 'active');
    });

    await step('inbound-url', async () => {
      await page.getByRole('link', { name: '← All webhooks' }).click();
      await heading('Webhooks');
      await page.locator('#inbound-name').fill('Form tool');
      await page.locator('#inbound-instance').selectOption({ label: 'Team phone' });
      await page.getByRole('button', { name: 'Create URL', exact: true }).click();
      const url = await page.locator('#new-inbound-url').inputValue();
      if (!url.startsWith(`${base}/webhook/`)) fail(`the inbound URL shown is "${url}"`);
      await page.locator('li[data-inbound-id]', { hasText: 'Form tool' }).waitFor();
      // The URL sends from the instance; no API key needed.
      const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ to: CONTACT, message: 'Pelo URL' }) });
      const sent = await res.json();
      if (res.status !== 200 || !sent.success || !sent.messageId) fail(`the inbound URL answered ${res.status} ${JSON.stringify(sent)}`);
    });

    await step('disconnected', async () => {
      await page.getByRole('link', { name: 'Instances', exact: true }).click();
      await heading('Instances');
      await page.getByRole('link', { name: 'Team phone', exact: true }).click();
      await heading('Team phone');
      await exactText('#instance-status .badge', 'connected');
      await page.getByRole('button', { name: 'Disconnect', exact: true }).click();
      await exactText('#instance-status .badge', 'disconnected');
      await assertSameDocument('while disconnecting');
    });

    await step('delete-instance', async () => {
      await page.getByRole('link', { name: '← All instances' }).click();
      await heading('Instances');
      await page.locator('#instance-name').fill('Spare');
      await page.getByRole('button', { name: 'Create', exact: true }).click();
      const spare = page.locator('li.instance', { has: page.locator('h3', { hasText: 'Spare' }) });
      await spare.waitFor();
      await page.getByRole('button', { name: 'Delete Spare', exact: true }).click();
      await spare.getByRole('button', { name: /Confirm deleting Spare/ }).click();
      await spare.waitFor({ state: 'detached' });
    });

    await step('pairing-code', async () => {
      await page.getByRole('link', { name: 'Team phone', exact: true }).click();
      await heading('Team phone');
      await page.locator('#pair-phone').fill('5511900000002');
      await page.locator('form[aria-labelledby=connect-title] button[type=submit]').click();
      await page.locator('#pairing strong').waitFor();
      const code = (await page.locator('#pairing strong').textContent()).trim();
      if (!/^[A-Z0-9]{8}$/.test(code)) fail(`the pairing code shown is "${code}"`);
      await page.locator('#pair-phone').fill('');
    });

    let portalKey;
    await step('api-key-created', async () => {
      await page.getByRole('link', { name: 'Developer Portal', exact: true }).click();
      await heading('Developer Portal');
      await exactText('#account-plan', 'enterprise');
      await page.locator('#key-name').fill('CI bot');
      await page.locator('#key-scopes input[value="webhooks:write"]').uncheck();
      await page.getByRole('button', { name: 'Create key', exact: true }).click();
      portalKey = await page.locator('#new-key').inputValue();
      if (!portalKey.startsWith('wgk_')) fail(`the key shown is "${portalKey}"`);
      const row = page.locator('#keys li', { hasText: 'CI bot' });
      await row.waitFor();
      if ((await row.textContent()).includes('webhooks:write')) fail('the new key has a scope that was not ticked');
      const works = await api('GET', '/v1/account', undefined, portalKey);
      if (works.status !== 200 || works.json.data.keyScopes.includes('webhooks:write')) fail(`the new key answers ${works.status} ${JSON.stringify(works.json)}`);
      // Shown once: back on the page, only its name is left.
      await page.getByRole('link', { name: 'Instances', exact: true }).click();
      await heading('Instances');
      await page.getByRole('link', { name: 'Developer Portal', exact: true }).click();
      await heading('Developer Portal');
      await row.waitFor();
      if (await page.evaluate((k) => document.body.innerText.includes(k) || [...document.querySelectorAll('input')].some((i) => i.value === k), portalKey)) {
        fail('the key is still shown after leaving the page');
      }
    });

    await step('api-key-revoked', async () => {
      await page.getByRole('button', { name: 'Revoke the key CI bot', exact: true }).click();
      await page.getByRole('button', { name: 'Confirm revoking the key CI bot', exact: true }).click();
      await page.locator('#keys li', { hasText: 'CI bot' }).locator('.badge', { hasText: /^revoked$/ }).waitFor();
      const refused = await api('GET', '/v1/account', undefined, portalKey);
      if (refused.status !== 401) fail(`the revoked key still answers ${refused.status}`);
      await assertSameDocument('in the Developer Portal');
    });

    // 390 px wide: each page fits, and axe-core finds nothing serious.
    await page.setViewportSize({ width: 390, height: 844 });
    const axeSource = fs.readFileSync(require.resolve('axe-core'), 'utf8');
    const problems = [];
    async function check(name) {
      const { scrollWidth, innerWidth } = await page.evaluate(() => ({
        scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
      }));
      if (scrollWidth > innerWidth) problems.push(`${name}: scrolls sideways at 390 px (${scrollWidth} > ${innerWidth})`);
      // Evaluated through DevTools, so the page's CSP (no inline scripts) does not apply.
      if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(axeSource);
      const violations = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations
        .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) })));
      if (!Array.isArray(violations)) fail(`${name}: axe-core did not run`);
      // Every control takes focus by Tab, from the top of the page on.
      const controls = await page.evaluate(() => {
        for (const e of document.querySelectorAll('[data-kbd]')) delete e.dataset.kbd;
        const all = [...document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]')]
          .filter((e) => e.tabIndex >= 0 && !e.disabled && e.offsetParent !== null);
        all.forEach((e, i) => { e.dataset.kbd = String(i); });
        // Tab from the top: the body, focused for a moment, becomes where Tab starts.
        document.body.tabIndex = -1;
        document.body.focus();
        document.body.removeAttribute('tabindex');
        return all.length;
      });
      const reached = new Set();
      // (A date-time field takes several presses: one per part.)
      for (let i = 0; i < controls * 3 + 10 && reached.size < controls; i += 1) {
        await page.keyboard.press('Tab');
        const k = await page.evaluate(() => document.activeElement?.dataset?.kbd);
        if (k !== undefined) reached.add(k);
      }
      if (reached.size < controls) {
        const missed = await page.evaluate((got) => [...document.querySelectorAll('[data-kbd]')]
          .filter((e) => !got.includes(e.dataset.kbd)).slice(0, 5).map((e) => e.outerHTML.slice(0, 80)), [...reached]);
        problems.push(`${name}: ${controls - reached.size} of ${controls} controls not reached by Tab: ${missed.join(' | ')}`);
      }
      for (const v of violations) {
        const line = `${name}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(', ')}`;
        if (v.impact === 'serious' || v.impact === 'critical') problems.push(line);
        else console.log(`     axe (${v.impact}): ${line}`);
      }
    }
    const go = (hash) => page.evaluate((h) => { location.hash = h; }, hash);

    await step('narrow-instances', async () => {
      await go('#/instances');
      await heading('Instances');
      await page.locator('li.instance').first().waitFor();
      await check('instances');
    });
    await step('narrow-instance-qr', async () => {
      await go(`#/instances/${instanceId}`);
      await heading('Team phone');
      await page.locator('form[aria-labelledby=connect-title] button[type=submit]').click();
      await page.locator('#qr').waitFor({ state: 'visible' });
      await check('instance');
    });
    await step('narrow-chats', async () => {
      await go(`#/instances/${instanceId}/chats/${CONTACT}`);
      await heading('Chats');
      await page.locator(`li[data-message-id="${messageId}"]`).waitFor();
      await check('chats');
    });
    await step('narrow-webhooks', async () => {
      await go('#/webhooks');
      await heading('Webhooks');
      await page.locator('li[data-webhook-id]').first().waitFor();
      await check('webhooks');
    });
    await step('narrow-webhook', async () => {
      await go(`#/webhooks/${webhookId}`);
      await heading('Receiver');
      await page.locator('#delivery-log tr[data-log-id]').first().waitFor();
      await check('webhook');
    });
    await step('narrow-keys', async () => {
      await go('#/keys');
      await heading('Developer Portal');
      await page.locator('#keys li').first().waitFor();
      await check('keys');
    });
    await step('narrow-sign-in', async () => {
      await page.getByRole('button', { name: 'Sign out' }).click();
      await heading('Sign in');
      await check('sign-in');
    });

    // The operator: the admin token opens the accounts and their keys (at 390 px, checked too).
    await step('operator-accounts', async () => {
      await page.locator('#api-key').fill(adminToken);
      await page.keyboard.press('Enter');
      await heading('Accounts');
      if (!(await page.getByRole('link', { name: 'Instances', exact: true }).isHidden())) fail('the operator is shown an account\'s links');
      await page.locator('#accounts li', { hasText: 'default' }).waitFor();
      await page.locator('#account-name').fill('Acme');
      await page.locator('#account-plan').selectOption('starter');
      await page.getByRole('button', { name: 'Create account', exact: true }).click();
      const firstKey = await page.locator('#new-account-key').inputValue();
      if (!firstKey.startsWith('wgk_')) fail(`the new account's key shown is "${firstKey}"`);
      await page.locator('#accounts li', { hasText: 'Acme' }).filter({ hasText: 'starter' }).waitFor();
      await check('accounts');
    });
    await step('operator-account-keys', async () => {
      await page.getByRole('link', { name: 'default', exact: true }).click();
      await heading('default');
      await exactText('#account-plan', 'enterprise');
      // The first key (named default) and the one the portal made and revoked.
      await page.locator('#keys li', { hasText: 'CI bot' }).filter({ hasText: 'revoked' }).waitFor();
      await page.locator('#keys li h3', { hasText: /^default$/ }).waitFor();
      await check('account');
    });
    await assertSameDocument('during the whole session');
    if (problems.length) fail(problems.join('\n  '));
  } catch (e) {
    await page.screenshot({ path: path.join(shotsDir, 'failure.png'), fullPage: true }).catch(() => {});
    await browser.close();
    receiver.server.close();
    console.error(`dashboard: failed at step "${stepName}": ${e.message}`);
    if (pageErrors.length) console.error(`script errors: ${pageErrors.join('; ')}`);
    if (outside.length) console.error(`requests outside the server: ${outside.join(', ')}`);
    process.exit(1);
  }
  await browser.close();
  receiver.server.close();
  const problems = [];
  if (outside.length) problems.push(`requests outside the server: ${outside.join(', ')}`);
  if (pageErrors.length) problems.push(`script errors: ${pageErrors.join('; ')}`);
  if (badAssets.length) problems.push(`dashboard files not served: ${badAssets.join(', ')}`);
  if (problems.length) {
    console.error(`dashboard: ${problems.join('; ')}`);
    process.exit(1);
  }
  const secs = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`dashboard: signed in, connected by QR, sent to read and received live (also across a dropped stream), a webhook delivery failed, logged and retried, an API key made once and revoked, the operator's accounts and keys, in Chromium; fits 390 px, every control reached by Tab, no serious axe finding, no request outside the server (${secs} s)`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
