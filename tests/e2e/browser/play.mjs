#!/usr/bin/env node
// Plays an HLS or LL-HLS URL in headless Chromium with hls.js and prints one
// JSON summary of the playback on stdout.
//
//   node play.mjs --url URL --seconds N [--low-latency] [--serve DIR]
//                 [--warmup S] [--chromium PATH] [--verbose]
//
// A local HTTP server gives the test page and hls.js one origin; the HLS URL
// is fetched cross-origin. `--serve DIR` adds a second server (another
// origin, `Access-Control-Allow-Origin: *`) giving the files of DIR, against
// which a relative `--url` resolves (default `index.m3u8`).
//
// Exit status: 0 when the browser ran the page for N seconds, whatever the
// playback did (the caller judges the JSON); 1 when the harness itself failed
// (bad arguments, browser did not start, page did not load, hls.js or MSE
// unavailable); 2 on the overall watchdog.

import { createServer } from 'node:http';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function usage(msg) {
  if (msg) process.stderr.write(`play.mjs: ${msg}\n`);
  process.stderr.write(
    'usage: node play.mjs --url URL --seconds N [--low-latency] [--serve DIR] [--warmup S] ' +
      '[--chromium PATH] [--verbose]\n',
  );
  process.exit(1);
}

function parseArgs(argv) {
  const opts = {
    url: null,
    seconds: 10,
    lowLatency: false,
    serve: null,
    warmup: 3,
    chromium: process.env.CHROMIUM || '/usr/bin/chromium',
    verbose: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--url': opts.url = value(); break;
      case '--seconds': opts.seconds = Number(value()); break;
      case '--low-latency': opts.lowLatency = true; break;
      case '--serve': opts.serve = resolve(value()); break;
      case '--warmup': opts.warmup = Number(value()); break;
      case '--chromium': opts.chromium = value(); break;
      case '--verbose': opts.verbose = true; break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown argument ${a}`);
    }
  }
  if (!opts.url && !opts.serve) usage('--url is required');
  if (!(opts.seconds > 0)) usage('--seconds must be a positive number');
  if (!(opts.warmup >= 0)) usage('--warmup must be a number >= 0');
  return opts;
}

const log = (opts, msg) => {
  if (opts.verbose) process.stderr.write(`play.mjs: ${msg}\n`);
};

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.ts': 'video/mp2t',
  '.m4s': 'video/iso.segment',
  '.mp4': 'video/mp4',
  '.m4a': 'audio/mp4',
  '.aac': 'audio/aac',
};

/// An HTTP server on a free loopback port giving `routes(path)` -> file path
/// (or null for 404); resolves to its origin.
function serveFiles(routes, headers) {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = routes(path);
    let size = null;
    try {
      if (file) {
        const st = statSync(file);
        if (st.isFile()) size = st.size;
      }
    } catch {
      size = null;
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...headers, 'Access-Control-Allow-Headers': '*' });
      res.end();
      return;
    }
    if (size === null || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    res.writeHead(200, {
      ...headers,
      'Content-Type': TYPES[extname(file)] || 'application/octet-stream',
      'Content-Length': size,
      'Cache-Control': 'no-cache',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok({ server, origin: `http://127.0.0.1:${server.address().port}` }));
  });
}

/// The page's origin: `/` is the test page, `/hls.min.js` the pinned hls.js.
function pageServer() {
  const hlsjs = join(here, 'node_modules', 'hls.js', 'dist', 'hls.min.js');
  return serveFiles((path) => {
    if (path === '/' || path === '/index.html') return join(here, 'page.html');
    if (path === '/hls.min.js') return hlsjs;
    return null;
  }, {});
}

/// The files of `dir`, cross-origin readable.
function dirServer(dir) {
  return serveFiles((path) => {
    const file = resolve(dir, '.' + path);
    return file === dir || file.startsWith(dir + sep) ? file : null;
  }, { 'Access-Control-Allow-Origin': '*' });
}

const median = (xs) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const round = (x, digits = 3) => (x === null || x === undefined ? null : Number(x.toFixed(digits)));

/// The summary of what the page recorded.
function summarize(h, opts, url, browserVersion, wallSeconds) {
  const samples = h.samples.map((s) => ({
    ...s,
    currentTime: round(s.currentTime),
    latency: round(s.latency),
    targetLatency: round(s.targetLatency),
    bufferAhead: round(s.bufferAhead),
  }));
  const played = h.playingAt === null ? [] : samples.filter((s) => s.t >= h.playingAt);
  const startTime = played.length ? played[0].currentTime : null;
  const endTime = samples.length ? samples[samples.length - 1].currentTime : null;
  const settled = played.filter((s) => s.t >= h.playingAt + opts.warmup && s.latency !== null);
  const latencies = (settled.length ? settled : played.filter((s) => s.latency !== null)).map((s) => s.latency);
  const last = samples[samples.length - 1];
  return {
    url,
    lowLatency: opts.lowLatency,
    seconds: opts.seconds,
    wallSeconds: round(wallSeconds),
    browser: browserVersion,
    hlsVersion: h.hlsVersion,
    supported: h.supported,
    startupSeconds: h.playingAt,
    samples,
    startTime,
    endTime,
    advanced: startTime === null ? 0 : round(endTime - startTime),
    latency: {
      last: latencies.length ? latencies[latencies.length - 1] : null,
      median: round(median(latencies)),
      min: latencies.length ? Math.min(...latencies) : null,
      max: latencies.length ? Math.max(...latencies) : null,
      count: latencies.length,
      warmupSeconds: opts.warmup,
    },
    stalls: h.stalls,
    events: h.events,
    errors: h.errors,
    fatal: h.errors.some((e) => e.fatal),
    framesDecoded: last ? last.totalVideoFrames : 0,
    framesDropped: last ? last.droppedVideoFrames : 0,
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const watchdog = setTimeout(() => {
    process.stderr.write('play.mjs: watchdog: the run took too long\n');
    process.exit(2);
  }, (opts.seconds + 60) * 1000);
  watchdog.unref();

  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    usage(`playwright-core is missing (run npm ci in ${here}): ${e.message}`);
  }
  try {
    statSync(join(here, 'node_modules', 'hls.js', 'dist', 'hls.min.js'));
  } catch {
    usage(`hls.js is missing (run npm ci in ${here})`);
  }

  const servers = [];
  const page0 = await pageServer();
  servers.push(page0.server);
  let url = opts.url || 'index.m3u8';
  if (opts.serve) {
    const files = await dirServer(opts.serve);
    servers.push(files.server);
    url = new URL(url, files.origin + '/').href;
    log(opts, `serving ${opts.serve} at ${files.origin}`);
  }

  const profile = mkdtempSync(join(tmpdir(), 'tributary-chromium-'));
  let context;
  let code = 0;
  try {
    try {
      context = await chromium.launchPersistentContext(profile, {
        executablePath: opts.chromium,
        headless: true,
        chromiumSandbox: false,
        timeout: 30000,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--autoplay-policy=no-user-gesture-required',
          '--disable-background-timer-throttling',
          '--disable-renderer-backgrounding',
        ],
      });
    } catch (e) {
      process.stderr.write(`play.mjs: the browser did not start (${opts.chromium}): ${e.message}\n`);
      code = 1;
      return code;
    }
    const browserVersion = await (context.pages()[0] || (await context.newPage())).evaluate(() => navigator.userAgent);
    const page = context.pages()[0] || (await context.newPage());
    page.on('console', (m) => log(opts, `console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => process.stderr.write(`play.mjs: page error: ${e.message}\n`));

    const pageUrl = `${page0.origin}/?src=${encodeURIComponent(url)}&ll=${opts.lowLatency ? 1 : 0}`;
    log(opts, `loading ${pageUrl}`);
    const started = Date.now();
    try {
      await page.goto(pageUrl, { waitUntil: 'load', timeout: 15000 });
      await page.waitForFunction(() => window.harness !== undefined, null, { timeout: 5000 });
    } catch (e) {
      process.stderr.write(`play.mjs: the test page did not load: ${e.message}\n`);
      code = 1;
      return code;
    }
    const supported = await page.evaluate(() => window.harness.supported);
    if (!supported.hlsjs) {
      process.stderr.write('play.mjs: hls.js reports no MediaSource support in this browser\n');
      code = 1;
      return code;
    }

    const deadline = started + opts.seconds * 1000;
    while (Date.now() < deadline) {
      await new Promise((ok) => setTimeout(ok, Math.min(1000, Math.max(0, deadline - Date.now()))));
      if (opts.verbose) {
        const s = await page.evaluate(() => window.harness.samples.at(-1) ?? null);
        if (s) log(opts, `t=${s.t} currentTime=${s.currentTime.toFixed(2)} latency=${s.latency}`);
      }
    }
    const h = await page.evaluate(() => window.harness);
    process.stdout.write(JSON.stringify(summarize(h, opts, url, browserVersion, (Date.now() - started) / 1000)) + '\n');
    return code;
  } finally {
    if (context) await context.close().catch(() => {});
    for (const s of servers) s.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`play.mjs: ${e.stack || e}\n`);
    process.exit(1);
  },
);
