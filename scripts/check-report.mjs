// Opens a report page in headless Chromium (Playwright driving Debian's chromium) and checks it
// as a reader would meet it: nothing is fetched, no script error, every figure of the index is on
// the page and drawn, and hovering a point shows its runs. Saves a screenshot of the page's head
// (claims and figure index) and one of a figure with a point hovered. Usage: node check-report.mjs PAGE.html FULL.png HOVER.png
import { chromium } from 'playwright-core';
import { pathToFileURL } from 'node:url';

const [page_path, full_png, hover_png] = process.argv.slice(2);
const fail = (msg) => { console.error(`error: ${msg}`); process.exit(1); };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
const problems = [];
page.on('request', (r) => { if (!r.url().startsWith('file:')) problems.push(`fetched ${r.url()}`); });
page.on('pageerror', (e) => problems.push(`script error: ${e.message}`));
page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
await page.goto(pathToFileURL(page_path).href, { waitUntil: 'load' });

const indexed = await page.$$eval('ol.index a', (as) => as.map((a) => a.getAttribute('href').slice(1)));
const figures = await page.$$eval('figure', (fs) => fs.map((f) => {
  const r = f.querySelector('svg').getBoundingClientRect();
  return { id: f.id, w: r.width, h: r.height };
}));
if (figures.length === 0) fail('no figures');
if (JSON.stringify(indexed) !== JSON.stringify(figures.map((f) => f.id))) fail('the index does not list the figures in order');
for (const f of figures) if (f.w < 300 || f.h < 150) fail(`${f.id} drawn at ${f.w}×${f.h}`);
const whys = await page.$$eval('code.why', (cs) => cs.length);
if (whys < figures.length) fail(`${whys} audit commands for ${figures.length} figures`);

// The page's head: the claims table and the figure index (the figures have their own PNGs).
await page.screenshot({ path: full_png, fullPage: true, clip: { x: 0, y: 0, width: 1200, height: Math.min(2400, await page.evaluate(() => document.querySelector('section').offsetTop)) } });

// Hover the first point of the first figure: the tooltip names the runs behind it.
const fig = page.locator('figure').first();
const point = fig.locator('.point').first();
await point.scrollIntoViewIfNeeded();
await point.hover();
const tip = page.locator('#tip');
await tip.waitFor({ state: 'visible', timeout: 2000 }).catch(() => fail('no tooltip on hover'));
const text = await tip.textContent();
if (!/seed \d+: .* — run [0-9a-f]{16}/.test(text)) fail(`tooltip without runs: ${text}`);
const a = await fig.boundingBox();
const b = await tip.boundingBox();
const x = Math.min(a.x, b.x), y = Math.min(a.y, b.y);
await page.screenshot({
  path: hover_png,
  clip: { x, y, width: Math.max(a.x + a.width, b.x + b.width) - x, height: Math.max(a.y + a.height, b.y + b.height) - y },
});
if (problems.length) fail(problems.join('\n'));
console.log(`${figures.length} figures, ${whys} audit commands, tooltip: ${text.split('\n')[0]}`);
await browser.close();
