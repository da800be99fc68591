// A real browser for tests of the Temporal Web UI: Debian's Chromium driven by playwright-core (which
// downloads no browser of its own). Screenshots of each stage go to .data/test/screenshots/, or to
// docs/images/ with UPDATE_SCREENSHOTS=1; a failed step saves .data/test/screenshots/failure-<step>.png.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { DATA, HOST, PORTS, ROOT } from '../../scripts/stack/paths';

export const UI_URL = `http://${HOST}:${PORTS.temporalUi}`;
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const FAILURE_DIR = path.join(DATA, 'test', 'screenshots');
export const SCREENSHOT_DIR = process.env.UPDATE_SCREENSHOTS === '1' ? path.join(ROOT, 'docs', 'images') : FAILURE_DIR;

/** How long one action (a click, a wait for an element) may take, and one page load. */
export const ACTION_TIMEOUT_MS = 20_000;
export const NAVIGATION_TIMEOUT_MS = 30_000;

export interface BrowserSession {
  browser: Browser;
  page: Page;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<BrowserSession> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  try {
    // The UI shows times in the browser's zone: UTC, as the runbooks and the README do.
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 }, timezoneId: 'UTC', locale: 'en-US' });
    const page = await context.newPage();
    page.setDefaultTimeout(ACTION_TIMEOUT_MS);
    page.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
    return { browser, page, close: () => browser.close() };
  } catch (err) {
    await browser.close();
    throw err;
  }
}

/**
 * Saves a screenshot of the page as `<name>.png` in SCREENSHOT_DIR and returns its path. `height`: the
 * window is made that tall for it (the UI scrolls inside its own pane, so a full-page shot would not show
 * a long form); `top`: scrolled into view first.
 */
export async function screenshot(page: Page, name: string, opts: { height?: number; top?: Locator } = {}): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  const size = page.viewportSize();
  if (opts.height && size) await page.setViewportSize({ width: size.width, height: opts.height });
  try {
    await opts.top?.scrollIntoViewIfNeeded();
    await page.screenshot({ path: file });
  } finally {
    if (opts.height && size) await page.setViewportSize(size);
  }
  return file;
}

/**
 * Runs one step of a walkthrough. When it fails, saves what the page showed as failure-<step>.png and
 * fails with an error naming the step (and the screenshot).
 */
export async function step<T>(page: Page, name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    mkdirSync(FAILURE_DIR, { recursive: true });
    const file = path.join(FAILURE_DIR, `failure-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.png`);
    const saved = await page.screenshot({ path: file, fullPage: true }).then(
      () => `; the page is in ${path.relative(ROOT, file)}`,
      (e: unknown) => `; no screenshot: ${(e as Error).message}`,
    );
    throw new Error(`Web UI step "${name}" failed: ${(err as Error).message}${saved}`, { cause: err });
  }
}

/**
 * Replaces the text of one of the UI's code editors (CodeMirror: the JSON input and Markdown fields) and
 * leaves it, so it settles (a JSON editor re-formats on blur) before the next click. Fails when the editor
 * then holds something else than `text` (as JSON when `json`).
 */
export async function fillEditor(editor: Locator, text: string, opts: { json?: boolean } = {}): Promise<void> {
  await editor.fill(text);
  await editor.blur();
  const held = await editor.innerText();
  const same = opts.json ? sameJson(held, text) : held.trim() === text.trim();
  if (!same) throw new Error(`the editor holds ${JSON.stringify(held)} instead of ${JSON.stringify(text)}`);
}

function sameJson(a: string, b: string): boolean {
  try {
    return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
  } catch {
    return false;
  }
}

/** Waits until `locator` shows, reloading the page between tries: for lists read from visibility, which lags. */
export async function visibleAfterReloads(page: Page, locator: Locator, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const left = until - Date.now();
    try {
      await locator.first().waitFor({ state: 'visible', timeout: Math.min(5_000, Math.max(1, left)) });
      return;
    } catch (err) {
      if (Date.now() >= until) throw err;
      await page.reload();
    }
  }
}
