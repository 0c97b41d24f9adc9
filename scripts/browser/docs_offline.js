// A real browser (Debian's Chromium, driven by playwright-core) opens /docs of a running server
// with every request that leaves the server refused: the reference must render (its title and
// the Groups section) with no request outside, and no script error. Exits 1 otherwise.
const { chromium } = require('playwright-core');

(async () => {
  const base = process.argv[2];
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  const page = await browser.newPage();
  const outside = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(base)) return route.continue();
    outside.push(url);
    return route.abort();
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${base}/docs`, { waitUntil: 'networkidle' });
  await page.getByText('EnviaAI v1 compatible WhatsApp API').first().waitFor({ timeout: 20000 });
  const text = await page.evaluate(() => document.body.innerText);
  await browser.close();
  const problems = [];
  if (outside.length) problems.push(`requests outside the server: ${outside.join(', ')}`);
  if (errors.length) problems.push(`script errors: ${errors.join('; ')}`);
  if (!text.includes('Groups')) problems.push('the Groups section is not shown');
  if (problems.length) {
    console.error(`/docs: ${problems.join('; ')}`);
    process.exit(1);
  }
  console.log('/docs rendered in Chromium with no request outside the server');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
