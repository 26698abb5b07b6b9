#!/usr/bin/env node
// WebRTC in headless Chromium against Tributary's WHEP and WHIP endpoints;
// prints one JSON summary on stdout.
//
//   node webrtc.mjs --mode whep --origin http://127.0.0.1:PORT --stream NAME
//                   --seconds N [--viewers K] [--no-render] [--video-codec h264|vp8]
//                   [--chromium PATH]
//   node webrtc.mjs --mode whip --origin http://127.0.0.1:PORT --stream NAME
//                   --seconds N [--token KEY] [--video-codec h264|vp8] [--chromium PATH]
//
// The page is the server's own origin (`/healthz`), a secure context on
// loopback. WHEP: K receive-only peer connections play the stream into
// <video> elements; the summary has, per viewer, how far `currentTime`
// advanced, frames decoded (`getVideoPlaybackQuality`), and from `getStats`
// (with --video-codec, the viewers offer only that video codec)
// the jitter-buffer delay per frame and the ICE round trip. WHIP: Chromium's
// fake camera and microphone are published (with --video-codec h264, the
// default, H.264 preferred; with vp8, VP8 is the only video codec offered)
// and the summary has the bytes and frames sent.
//
// Exit status: 0 when the page ran for N seconds (the caller judges the
// JSON); 1 when the harness itself failed.

import { chromium } from 'playwright-core';

function usage(msg) {
  if (msg) process.stderr.write(`webrtc.mjs: ${msg}\n`);
  process.stderr.write('usage: node webrtc.mjs --mode whep|whip --origin URL --stream NAME --seconds N\n');
  process.exit(1);
}

const opts = { mode: null, origin: null, stream: null, seconds: 10, viewers: 1, token: null, render: true,
  videoCodec: null, chromium: process.env.CHROMIUM || '/usr/bin/chromium' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const value = () => {
    if (i + 1 >= argv.length) usage(`${a} needs a value`);
    return argv[++i];
  };
  switch (a) {
    case '--mode': opts.mode = value(); break;
    case '--origin': opts.origin = value(); break;
    case '--stream': opts.stream = value(); break;
    case '--seconds': opts.seconds = Number(value()); break;
    case '--viewers': opts.viewers = Number(value()); break;
    case '--token': opts.token = value(); break;
    case '--video-codec': opts.videoCodec = value(); break;
    case '--no-render': opts.render = false; break;
    case '--chromium': opts.chromium = value(); break;
    default: usage(`unknown argument ${a}`);
  }
}
if (!['whep', 'whip'].includes(opts.mode) || !opts.origin || !opts.stream) usage('missing arguments');
if (![null, 'h264', 'vp8'].includes(opts.videoCodec)) usage(`--video-codec must be h264 or vp8, not ${opts.videoCodec}`);

const watchdog = setTimeout(() => {
  process.stderr.write('webrtc.mjs: watchdog expired\n');
  process.exit(1);
}, (opts.seconds + 60) * 1000);

const browser = await chromium.launch({
  executablePath: opts.chromium,
  args: [
    '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
    '--allow-loopback-in-peer-connection',
    '--autoplay-policy=no-user-gesture-required',
  ],
});
try {
  const page = await browser.newPage();
  page.on('console', (m) => process.stderr.write(`page: ${m.text()}\n`));
  await page.goto(`${opts.origin}/healthz`);
  const summary = await page.evaluate(opts.mode === 'whep' ? whep : whip, opts);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} catch (e) {
  process.stderr.write(`webrtc.mjs: ${e.stack || e}\n`);
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  await browser.close();
}

// Runs in the page.
async function whep(o) {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const viewers = [];
  for (let i = 0; i < o.viewers; i++) {
    const pc = new RTCPeerConnection();
    const t = pc.addTransceiver('video', { direction: 'recvonly' });
    if (o.videoCodec) {
      const mime = o.videoCodec === 'vp8' ? 'video/VP8' : 'video/H264';
      const codecs = RTCRtpReceiver.getCapabilities('video').codecs;
      t.setCodecPreferences(codecs.filter((c) => c.mimeType === mime || c.mimeType === 'video/rtx'));
    }
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const video = document.createElement('video');
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    document.body.appendChild(video);
    const stream = new MediaStream();
    pc.ontrack = (e) => {
      // Without --no-render each viewer decodes into a <video>; with it the
      // browser only receives (for load tests of the server).
      if (!o.render) return;
      stream.addTrack(e.track);
      video.srcObject = stream;
      video.play().catch(() => {});
    };
    await pc.setLocalDescription(await pc.createOffer());
    const r = await fetch(`${o.origin}/whep/${o.stream}`, {
      method: 'POST', headers: { 'content-type': 'application/sdp' }, body: pc.localDescription.sdp,
    });
    const text = await r.text();
    if (r.status !== 201) {
      viewers.push({ pc, video, status: r.status, error: text });
      continue;
    }
    const location = r.headers.get('location');
    await pc.setRemoteDescription({ type: 'answer', sdp: text });
    viewers.push({ pc, video, status: r.status, location });
  }
  const start = viewers.map((v) => v.video.currentTime);
  await sleep(o.seconds * 1000);
  const out = [];
  for (const [i, v] of viewers.entries()) {
    const res = { status: v.status, error: v.error, location: v.location, state: v.pc.connectionState };
    if (v.status === 201) {
      const q = v.video.getVideoPlaybackQuality();
      res.advanced = v.video.currentTime - start[i];
      res.currentTime = v.video.currentTime;
      res.framesDecoded = q.totalVideoFrames - q.droppedVideoFrames;
      res.width = v.video.videoWidth;
      const stats = await v.pc.getStats();
      stats.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') {
          res.rtpFramesDecoded = s.framesDecoded;
          res.codec = s.codecId && stats.get(s.codecId) ? stats.get(s.codecId).mimeType : null;
          res.jitterBufferMs = s.jitterBufferEmittedCount
            ? (1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount : null;
          res.packetsLost = s.packetsLost;
          res.nackCount = s.nackCount;
          res.pliCount = s.pliCount;
        }
        if (s.type === 'inbound-rtp' && s.kind === 'audio') res.audioPackets = s.packetsReceived;
        if (s.type === 'candidate-pair' && s.nominated && s.currentRoundTripTime !== undefined) {
          res.rttMs = 1000 * s.currentRoundTripTime;
        }
      });
      if (v.location) {
        const g = await fetch(`${o.origin}${v.location}`);
        res.session = g.status === 200 ? await g.json() : g.status;
        const d = await fetch(`${o.origin}${v.location}`, { method: 'DELETE' });
        res.deleted = d.status;
      }
    }
    v.pc.close();
    out.push(res);
  }
  return { mode: 'whep', viewers: out };
}

// Runs in the page.
async function whip(o) {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360, frameRate: 25 }, audio: true });
  const pc = new RTCPeerConnection();
  for (const track of media.getTracks()) {
    const t = pc.addTransceiver(track, { direction: 'sendonly' });
    if (track.kind === 'video') {
      const codecs = RTCRtpSender.getCapabilities('video').codecs;
      if (o.videoCodec === 'vp8') {
        // VP8 alone (with its retransmissions): the server gets no other choice.
        t.setCodecPreferences(codecs.filter((c) => c.mimeType === 'video/VP8' || c.mimeType === 'video/rtx'));
      } else {
        const h264 = codecs.filter((c) => c.mimeType === 'video/H264' && /packetization-mode=1/.test(c.sdpFmtpLine || ''));
        t.setCodecPreferences([...h264, ...codecs.filter((c) => !h264.includes(c))]);
      }
    }
  }
  await pc.setLocalDescription(await pc.createOffer());
  const headers = { 'content-type': 'application/sdp' };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  const r = await fetch(`${o.origin}/whip/${o.stream}`, { method: 'POST', headers, body: pc.localDescription.sdp });
  const text = await r.text();
  if (r.status !== 201) return { mode: 'whip', status: r.status, error: text };
  const location = r.headers.get('location');
  await pc.setRemoteDescription({ type: 'answer', sdp: text });
  await sleep(o.seconds * 1000);
  const res = { mode: 'whip', status: r.status, location, state: pc.connectionState };
  const stats = await pc.getStats();
  stats.forEach((s) => {
    if (s.type === 'outbound-rtp' && s.kind === 'video') {
      res.videoBytesSent = s.bytesSent;
      res.framesEncoded = s.framesEncoded;
      res.keyFramesEncoded = s.keyFramesEncoded;
      res.pliCount = s.pliCount;
      res.codec = s.codecId && stats.get(s.codecId) ? stats.get(s.codecId).mimeType : null;
    }
    if (s.type === 'outbound-rtp' && s.kind === 'audio') res.audioBytesSent = s.bytesSent;
  });
  return res;
}
