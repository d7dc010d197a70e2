// @ts-check
/**
 * What the load test reads of the server under test besides its answers: the model's metadata and
 * config, `/metrics` snapshots, an empty queue between loads, which flags its `serve` command takes, and
 * which image decoder a model's BYTES requests get (from the server's readiness line).
 * @module
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { modelSnapshot } from './prometheus.mjs';

const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @type {string | undefined} */
let serveHelp;
/**
 * Whether `resnet serve` lists `flag` in its help (a flag that another change adds, such as `--allow-shm`,
 * is passed only where it exists, so the server still starts and answers the request in its own words).
 * @param {string} flag
 */
export function serveTakes(flag) {
  serveHelp ??= execFileSync(process.execPath, [cli, 'serve', '--help'], { encoding: 'utf8', timeout: 60_000 });
  return new RegExp(`(^|[\\s,])${flag.replace(/[-]/g, '\\-')}\\b`).test(serveHelp);
}

/**
 * The image decoder `model` uses, as the server's readiness line names it (`resnet info`'s words: "nvJPEG
 * hardware (7 engines)", "nvJPEG GPU backend", "CPU workers"), or null when the line does not say.
 * @param {string} readyLine `resnet serve: ready on URL: resnet50 (cuda:0, images: nvJPEG hardware (7 engines)), …`
 * @param {string} model
 */
export function imageDecoderOf(readyLine, model) {
  const escaped = model.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`[:,] ${escaped} \\([^,()]+, images: (nvJPEG hardware \\(\\d+ engines?\\)|nvJPEG GPU backend|CPU workers)\\)`).exec(readyLine);
  return match ? match[1] : null;
}

/**
 * GET `url`, JSON; an error with the server's answer unless 200.
 * @param {string} url
 */
export async function getJson(url) {
  const res = await fetch(url);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text);
}

/**
 * The server's counters for one model (prometheus.mjs), RSS from /proc where `/metrics` lacks it.
 * @param {{ url: string; rssBytes: () => number }} server @param {string} model @param {string} version
 */
export async function metricsOf(server, model, version) {
  const res = await fetch(`${server.url}/metrics`);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}: ${text.slice(0, 300)}`);
  const snapshot = modelSnapshot(text, model, version);
  if (!(snapshot.rssBytes > 0)) snapshot.rssBytes = server.rssBytes();
  return snapshot;
}

/**
 * Waits until the model's queue is empty (at most 10 s), so one load's tail does not run into the next.
 * @param {{ url: string; rssBytes: () => number }} server @param {string} model @param {string} version
 */
export async function settle(server, model, version) {
  for (let i = 0; i < 100; i++) {
    if ((await metricsOf(server, model, version)).pending === 0) break;
    await sleep(100);
  }
  await sleep(200);
}
