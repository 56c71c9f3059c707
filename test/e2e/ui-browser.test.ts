import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { serveReplay } from '../../src/ui/replay-server.js';
import { ProcessCluster } from './process-cluster.js';

const run = promisify(execFile);
const SIM_CLI = fileURLToPath(new URL('../../sim/cli.js', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
/**
 * Screenshots the test takes, kept as build artifacts (dist/ is the build output;
 * KVSTORE_ARTIFACTS_DIR moves them): the README's come from here.
 */
const ARTIFACTS = process.env['KVSTORE_ARTIFACTS_DIR'] ?? fileURLToPath(new URL('../../test-artifacts/ui/', import.meta.url));

/** Debian's Chromium, headless, with nothing that reaches out of the machine; a fresh profile each time. */
async function browser(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: .ci/run installs Debian's chromium package (apt-get install chromium)`);
  const profile = mkdtempSync(join(tmpdir(), 'kvstore-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 860 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Deadline of each wait on the page: generous, because a loaded CI box can take many seconds per step. */
const PAGE_TIMEOUT_MS = 60_000;

async function shoot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
}

/** The page's members table: id → role ("down" for a member it cannot reach). */
function roles(page: Page): Promise<Record<string, string>> {
  return page.$$eval('[data-testid=member-row]', (rows) => Object.fromEntries(rows.map((r) => [r.getAttribute('data-id'), r.getAttribute('data-role')])));
}

/**
 * Clicks the key browser's put until it answers something other than a retryable failure (the leader
 * just changed, or the page's node is still catching up), as a user would; returns the final status.
 */
async function putThroughPage(page: Page): Promise<string> {
  const deadline = Date.now() + PAGE_TIMEOUT_MS;
  for (;;) {
    await page.click('[data-testid=kb-put]');
    const handle = await page.waitForFunction(() => document.querySelector('[data-testid=kb-result]')?.getAttribute('data-status') ?? false, undefined, { timeout: PAGE_TIMEOUT_MS });
    const status = (await handle.jsonValue()) as string;
    if (!['503', '504', 'failed'].includes(status) || Date.now() > deadline) return status;
  }
}

test('the cluster page in a real browser: three members, one leader, the new leader after a kill, the role diagram, a put through the key browser', { timeout: 300_000 }, async () => {
  const cluster = await ProcessCluster.start(3, 400);
  const b = await browser();
  try {
    const leader = await cluster.waitForLeader(20_000);
    const host = cluster.nodes.find((n) => n.id !== leader)!.id;
    const page = await b.context.newPage();
    page.setDefaultTimeout(PAGE_TIMEOUT_MS);
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(cluster.url(host, '/ui'));

    // Three members, exactly one of them leading: the one the REST API names.
    await page.waitForFunction((want) => {
      const rows = [...document.querySelectorAll('[data-testid=member-row]')];
      return rows.length === 3 && rows.filter((r) => r.getAttribute('data-role') === 'leader').map((r) => r.getAttribute('data-id')).join() === want;
    }, leader);
    const before = await roles(page);
    assert.deepEqual(Object.keys(before).sort(), ['n1', 'n2', 'n3']);
    assert.equal(Object.values(before).filter((r) => r === 'leader').length, 1);
    assert.equal((await page.getAttribute('[data-testid=summary]', 'data-leader')), leader);

    // The page selects the node that served it, a follower: its diagram highlights follower.
    await page.waitForSelector('[data-testid=state-follower].current');
    assert.equal(await page.$$eval('#diagram .state.current', (s) => s.map((x) => x.getAttribute('data-state')).join()), 'follower');
    // Every role of the machine is drawn, with transitions between them.
    assert.deepEqual((await page.$$eval('#diagram .state', (s) => s.map((x) => x.getAttribute('data-state')))).sort(), ['candidate', 'follower', 'leader', 'preCandidate']);
    assert.ok((await page.$$('#diagram .edge')).length >= 8);
    await page.click(`[data-testid=member-row][data-id=${leader}]`);
    await page.waitForSelector('[data-testid=state-leader].current');
    assert.match(await page.textContent('[data-testid=transitions]') ?? '', /candidate → leader/);
    await shoot(page, 'cluster.png');

    // Kill the leader: the page shows the new one within seconds (the survivors elect one; the page hears of it from their streams).
    const killedAt = Date.now();
    await cluster.kill(leader);
    const survivors = cluster.nodes.filter((n) => n.id !== leader).map((n) => n.id);
    const handle = await page.waitForFunction(
      ([old, among]) => {
        const el = document.querySelector('[data-testid=summary]');
        const now = el?.getAttribute('data-leader') ?? '';
        const oldRow = document.querySelector(`[data-testid=member-row][data-id="${old}"]`);
        return among.includes(now) && oldRow?.getAttribute('data-role') === 'down' ? now : false;
      },
      [leader, survivors] as const,
    );
    const newLeader = (await handle.jsonValue()) as string;
    const seconds = (Date.now() - killedAt) / 1000;
    assert.equal(await cluster.waitForLeader(20_000, survivors), newLeader, 'the page names the leader the REST API names');
    await page.click(`[data-testid=member-row][data-id=${newLeader}]`);
    await page.waitForSelector('[data-testid=state-leader].current');
    await shoot(page, 'after-leader-kill.png');
    console.log(`the page showed ${newLeader} leading ${seconds.toFixed(1)} s after ${leader} was killed`);

    // A put through the key browser (through the page's node, a follower, to the leader) is readable through the REST API.
    await page.fill('[data-testid=kb-key]', 'ui/greeting');
    await page.fill('[data-testid=kb-value]', 'hello from the browser');
    assert.equal(await putThroughPage(page), '200');
    const revision = await page.getAttribute('[data-testid=kb-result]', 'data-revision');
    const r = await cluster.get(newLeader, 'ui/greeting');
    assert.equal(r.status, 200);
    assert.equal(await r.text(), 'hello from the browser');
    assert.equal(r.headers.get('etag'), `"${revision}"`);
    await page.click('[data-testid=kb-get]');
    await page.waitForFunction((rev) => (document.querySelector('[data-testid=kb-result]')?.textContent ?? '').startsWith(`200 revision ${rev}`), revision);
    await shoot(page, 'key-browser.png');
    assert.deepEqual(pageErrors, []);
  } finally {
    await b.close();
    await cluster.stop();
  }
});

test('the replay viewer steps through a failing simulator run and marks the violation', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvstore-view-'));
  const trace = join(dir, 'run.jsonl');
  // Stale reads checked for linearizability fail the run: its trace ends at the violation.
  await assert.rejects(run(process.execPath, [SIM_CLI, '--seed', '2', '--duration-ms', '8000', '--check-stale-reads', '--trace', trace]), (e: { code: number; stderr: string }) => {
    assert.equal(e.code, 1);
    assert.ok(e.stderr.includes(`watch it: npm run sim:view -- ${trace}`), e.stderr);
    return true;
  });
  const server = await serveReplay(readFileSync(trace, 'utf8'), 0);
  const b = await browser();
  try {
    const page = await b.context.newPage();
    page.setDefaultTimeout(PAGE_TIMEOUT_MS);
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/ui`);
    // It opens at the violation, marked on the timeline.
    await page.waitForSelector('#tl-event.violation');
    assert.match((await page.textContent('[data-testid=current-event]')) ?? '', /^VIOLATION linearizability/);
    assert.equal((await page.$$('#tl-marks span.violation')).length, 1);
    assert.equal((await page.$$('[data-testid=member-row]')).length, 3);
    await shoot(page, 'replay-violation.png');
    // Stepping back and forth moves through the run; each node's state is the one at that step.
    await page.click('#tl-first');
    assert.match((await page.textContent('[data-testid=position]')) ?? '', /^step 0 of /);
    await page.click('[data-testid=next-transition]');
    const atTransition = (await page.textContent('[data-testid=current-event]')) ?? '';
    assert.match(atTransition, /: follower → preCandidate \(term 0\) on timer randomizedElectionTimeout/);
    const node = atTransition.split(':')[0]!;
    await page.click(`[data-testid=member-row][data-id=${node}]`);
    await page.click('[data-testid=step-forward]');
    await page.click('[data-testid=step-back]');
    assert.equal((await page.textContent('[data-testid=current-event]')) ?? '', atTransition);
    await page.waitForSelector('[data-testid=state-preCandidate].current');
    await shoot(page, 'replay-step.png');
  } finally {
    await b.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
