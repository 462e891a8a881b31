// The web console in headless Chromium against a real scfd: sign-in (and a wrong key),
// namespaces -> functions -> a function, requests appearing live, logs, charts, sign-out,
// one account not seeing another's functions, and the pure-JS signer on a non-secure origin.
//
// Chromium is Debian's (/usr/bin/chromium, or CHROMIUM=...), driven by playwright-core;
// no browser is downloaded. Screenshots go to tests/browser/screenshots/; with
// UPDATE_DOCS_SCREENSHOT=1 the function page is also saved as docs/console.png.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, copyFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { ROOT, ACCOUNT_A, ACCOUNT_B, startScfd, call, deployPython, invoke } from './lib/scfd.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const SHOTS = join(HERE, 'screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
/** A name that is not localhost: Chromium treats http on it as NOT a secure context. */
const INSECURE_HOST = 'console.test';

const FUNCTION = 'console-demo';
const CODE = `
import time

def main_handler(event, context):
    n = int(event.get("n", 0)) if isinstance(event, dict) else 0
    block = bytearray(n * 4 * 1024 * 1024)  # a few MB more for bigger n: the memory chart moves
    print("console test says hello, n =", n, len(block))
    time.sleep(0.02 * (1 + n % 4))
    return {"ok": True, "n": n}
`;

let server;
let browser;
const requestIds = [];

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await startScfd([ACCOUNT_A, ACCOUNT_B]);
  await deployPython(server, ACCOUNT_A, FUNCTION, CODE, { memory: 256 });
  // Account B: a function in its own default namespace and a namespace A must not see.
  await call(server, ACCOUNT_B, 'CreateNamespace', { Namespace: 'team-b', Description: 'B only' });
  await deployPython(server, ACCOUNT_B, 'b-secret-function', CODE);
  for (let n = 0; n < 5; n++) requestIds.push((await invoke(server, ACCOUNT_A, FUNCTION, { n })).FunctionRequestId);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Only for the fallback test: a non-localhost name for scfd's loopback address.
      `--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`,
    ],
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function newPage(origin = server.url) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: origin });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  return { context, page, errors };
}

/** Waits for the locator to be visible and laid out with a real size. */
async function assertVisible(locator, what) {
  await locator.first().waitFor({ state: 'visible', timeout: 10000 });
  const box = await locator.first().boundingBox();
  assert.ok(box && box.width > 0 && box.height > 0, `${what} has no size on screen: ${JSON.stringify(box)}`);
}

async function signIn(page, account, secretKey = account.secretKey) {
  await page.goto('/console');
  await assertVisible(page.locator('#signin'), 'the sign-in form');
  await page.fill('#secret-id', account.secretId);
  await page.fill('#secret-key', secretKey);
  await page.click('#signin button[type=submit]');
}

const rowOf = (page, id) => page.locator(`#requests tbody tr[data-request-id="${id}"]`);

test('a wrong SecretKey shows the server\u2019s AuthFailure on the sign-in form', async () => {
  const { context, page, errors } = await newPage();
  await signIn(page, ACCOUNT_A, 'not-the-key');
  const error = page.locator('#signin-error');
  await assertVisible(error, 'the sign-in error');
  assert.match(await error.textContent(), /^AuthFailure\.SignatureFailure: /);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('scfd-console.session')), null);
  assert.ok(await page.locator('#signin').isVisible(), 'still on the sign-in form');
  await page.screenshot({ path: join(SHOTS, 'signin-error.png') });
  // Picking a region on the form keeps what was typed; the header's selector is hidden.
  await page.selectOption('#signin-region', 'ap-shanghai');
  assert.equal(await page.inputValue('#secret-id'), ACCOUNT_A.secretId);
  assert.equal(await page.inputValue('#secret-key'), 'not-the-key');
  assert.equal(await page.locator('#region').isVisible(), false);
  assert.deepEqual(errors, []);
  await context.close();
});

test('signed in as A: namespaces, functions, live requests, log, charts, sign-out', async () => {
  const { context, page, errors } = await newPage();
  await signIn(page, ACCOUNT_A);

  // Namespaces: A's default, not B's team-b.
  const namespaces = page.locator('#namespaces');
  await assertVisible(namespaces.locator('a', { hasText: 'default' }), 'the default namespace');
  assert.equal(await namespaces.locator('a', { hasText: 'team-b' }).count(), 0, 'B\u2019s namespace is listed for A');
  assert.match(await page.locator('#who').textContent(), /AKIDconsoleAccountA/);
  const stored = JSON.parse(await page.evaluate(() => sessionStorage.getItem('scfd-console.session')));
  assert.equal(stored.secretId, ACCOUNT_A.secretId);
  assert.equal(stored.region, 'ap-guangzhou');
  await page.screenshot({ path: join(SHOTS, 'namespaces.png') });

  // Functions of default: A's function with its runtime, status and memory; B's is not there.
  await namespaces.locator('a', { hasText: 'default' }).click();
  const fnRow = page.locator(`#functions tbody tr[data-function="${FUNCTION}"]`);
  await assertVisible(fnRow, 'the function row');
  await assertVisible(fnRow.locator('td', { hasText: '256 MB' }), 'the function\u2019s memory');
  const rowText = await fnRow.textContent();
  assert.match(rowText, /Python3\.9/);
  assert.match(rowText, /Active/);
  assert.match(rowText, /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/);
  assert.equal(await page.locator('#functions tbody tr').count(), 1);
  assert.equal(await page.getByText('b-secret-function').count(), 0, 'B\u2019s function is listed for A');
  await page.screenshot({ path: join(SHOTS, 'functions.png') });

  // The function page: configuration and the requests made before it opened.
  await fnRow.locator('a').click();
  await page.waitForURL(/#\/ns\/default\/fn\/console-demo$/);
  const config = page.locator('#config');
  await assertVisible(config, 'the configuration');
  const configText = await config.textContent();
  assert.match(configText, /index\.main_handler/);
  assert.match(configText, /256 MB/);
  assert.match(configText, /GREETING/);
  for (const id of requestIds) await assertVisible(rowOf(page, id), `the row of request ${id}`);
  const first = rowOf(page, requestIds[0]);
  assert.match(await first.textContent(), /success/);
  assert.equal((await first.locator('td').nth(6).textContent()).trim(), 'cold', 'the first request started an instance');
  assert.equal((await rowOf(page, requestIds[1]).locator('td').nth(6).textContent()).trim(), 'warm', 'the second reused it');

  // Live: a request made now appears within a few polls, without a reload.
  await page.evaluate(() => (window.__sameDocument = true));
  const fresh = (await invoke(server, ACCOUNT_A, FUNCTION, { n: 3 })).FunctionRequestId;
  await assertVisible(rowOf(page, fresh), 'the new request\u2019s row');
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was reloaded');
  const ids = await page.locator('#requests tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.requestId));
  assert.equal(ids[0], fresh, 'newest first');
  assert.equal(ids.length, requestIds.length + 1);

  // Its log, from a click on its row.
  await rowOf(page, fresh).click();
  const log = page.locator('#log');
  await assertVisible(log, 'the log panel');
  const logText = await log.textContent();
  assert.match(logText, new RegExp(`^START RequestId: ${fresh}$`, 'm'));
  assert.match(logText, /console test says hello, n = 3/);
  assert.match(logText, new RegExp(`^END RequestId: ${fresh}$`, 'm'));
  assert.match(logText, new RegExp(`^Report RequestId: ${fresh} Duration: [\\d.]+ ms`, 'm'));
  assert.equal(await log.evaluate((el) => getComputedStyle(el).fontFamily.includes('monospace')), true);

  // Charts: one point per finished request in each.
  for (const kind of ['duration', 'memory']) {
    const svg = page.locator(`#charts svg.chart.${kind}`);
    await assertVisible(svg, `the ${kind} chart`);
    await page.waitForFunction((k) => document.querySelectorAll(`#charts svg.chart.${k} circle.point`).length === 6, kind);
    assert.equal(await svg.locator('polyline.line').count(), 1);
  }
  await assertVisible(rowOf(page, fresh).locator('.badge.ok'), 'the success badge');
  await page.screenshot({ path: join(SHOTS, 'function.png'), fullPage: true });
  if (process.env.UPDATE_DOCS_SCREENSHOT) copyFileSync(join(SHOTS, 'function.png'), join(ROOT, 'docs', 'console.png'));

  // Another region: the function lives in ap-guangzhou only, and the API says so.
  await page.selectOption('#region', 'ap-shanghai');
  await assertVisible(page.locator('.error', { hasText: 'ResourceNotFound.Function' }), 'the not-found error in ap-shanghai');
  assert.equal(JSON.parse(await page.evaluate(() => sessionStorage.getItem('scfd-console.session'))).region, 'ap-shanghai');
  await page.selectOption('#region', 'ap-guangzhou');
  await assertVisible(rowOf(page, fresh), 'the request rows, back in ap-guangzhou');

  // Sign-out forgets the key.
  await page.click('#signout');
  await assertVisible(page.locator('#signin'), 'the sign-in form after sign-out');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('scfd-console.session')), null);
  assert.deepEqual(errors, []);
  await context.close();
});

test('signed in as B: B\u2019s own function and namespace, none of A\u2019s', async () => {
  const { context, page, errors } = await newPage();
  await signIn(page, ACCOUNT_B);
  await assertVisible(page.locator('#namespaces a', { hasText: 'team-b' }), 'B\u2019s namespace');
  await page.goto('/console#/ns/default');
  await assertVisible(page.locator('#functions tbody tr[data-function="b-secret-function"]'), 'B\u2019s function');
  assert.equal(await page.getByText(FUNCTION).count(), 0, 'A\u2019s function is listed for B');
  // A's function page by its address: the API says it does not exist for B.
  await page.goto(`/console#/ns/default/fn/${FUNCTION}`);
  await assertVisible(page.locator('.error', { hasText: 'ResourceNotFound.Function' }), 'the not-found error');
  assert.deepEqual(errors, []);
  await context.close();
});

test('on plain http to a non-localhost name the page signs with its JavaScript SHA-256', async () => {
  const { context, page, errors } = await newPage(`http://${INSECURE_HOST}:${server.port}`);
  await page.goto('/console');
  assert.equal(await page.evaluate(() => window.isSecureContext), false);
  assert.equal(await page.evaluate(() => typeof (globalThis.crypto && crypto.subtle)), 'undefined');
  await assertVisible(page.getByText('Signing with the built-in JavaScript SHA-256'), 'the fallback note');
  await signIn(page, ACCOUNT_A);
  await assertVisible(page.locator('#namespaces a', { hasText: 'default' }), 'the namespaces, signed by the fallback');
  await page.goto(`/console#/ns/default/fn/${FUNCTION}`);
  await assertVisible(rowOf(page, requestIds[0]), 'a request row, signed by the fallback');
  assert.deepEqual(errors, []);
  await context.close();
});
