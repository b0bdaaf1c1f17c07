// app.js: the live view (the socket table from the event stream, the
// chosen connection's diagram and plots, the state diagram) and the lab.
'use strict';

const $ = s => document.querySelector(s);
const self = document.querySelector('meta[name="synack-self"]').content;
const PLOT_MAX = 300; // points kept per plot, as the server's history (web.HistorySamples)

const live = { picked: '', known: new Set(), first: true, samples: [], segs: -1, loads: 0 };

// fmtBytes and fmtUs print sizes and microseconds short.
function fmtBytes(n) { return n >= 1 << 20 ? (n / (1 << 20)).toFixed(1) + 'M' : n >= 1024 ? (n / 1024).toFixed(1) + 'K' : String(n); }
function fmtAge(ms) { return ms >= 3600e3 ? (ms / 3600e3).toFixed(1) + 'h' : ms >= 60e3 ? (ms / 60e3).toFixed(1) + 'min' : (ms / 1e3).toFixed(1) + 's'; }
function fmtUs(us) { return !us ? '' : us >= 1e6 ? (us / 1e6).toFixed(2) + 's' : us >= 1000 ? (us / 1000).toFixed(1) + 'ms' : us + 'µs'; }

// onTable shows one message of the event stream.
function onTable(t) {
  const tb = $('#conns tbody');
  const rows = [];
  for (const c of t.conns) {
    const tr = document.createElement('tr');
    tr.dataset.conn = c.id;
    if (!c.remote) tr.classList.add('listener');
    if (c.id === live.picked) tr.classList.add('picked');
    if (c.id === self) tr.classList.add('self');
    if (!live.first && !live.known.has(c.id)) tr.classList.add('fresh');
    const cells = [c.local, c.remote || '*', c.state, c.sendq, c.recvq, c.cwnd ? fmtBytes(c.cwnd) : '',
      c.remote ? fmtBytes(c.inflight) : '', fmtUs(c.srtt_us), fmtUs(c.rto_us), c.segs_in + '/' + c.segs_out, c.retrans || '', fmtAge(c.age_ms)];
    for (const v of cells) { const td = document.createElement('td'); td.textContent = v; tr.appendChild(td); }
    if (c.remote) tr.addEventListener('click', () => pick(c.id));
    rows.push(tr);
  }
  tb.replaceChildren(...rows);
  live.known = new Set(t.conns.map(c => c.id));
  fsmUpdate($('#fsm'), t.states || {});
  if (live.first && self && live.known.has(self)) pick(self);
  live.first = false;
  const c = t.conns.find(c => c.id === live.picked);
  if (c) {
    addSample({ t: t.time, cwnd: c.cwnd || 0, inflight: c.inflight || 0, srtt_us: c.srtt_us || 0 });
    const segs = c.segs_in + c.segs_out;
    if (segs !== live.segs) { live.segs = segs; loadTrace(live.picked); }
  } else if (live.picked && live.segs !== 'gone') {
    live.segs = 'gone'; // it closed: its trace, kept a while, has the close
    loadTrace(live.picked);
  }
}

// pick chooses the connection whose diagram and plots are shown.
async function pick(id) {
  live.picked = id;
  live.segs = -1;
  live.samples = [];
  for (const tr of document.querySelectorAll('#conns tbody tr')) tr.classList.toggle('picked', tr.dataset.conn === id);
  $('#seqtitle').textContent = id + (id === self ? ' (the connection that fetched this page)' : '');
  loadTrace(id);
  const r = await fetch('history?conn=' + encodeURIComponent(id));
  if (r.ok && live.picked === id) {
    const h = await r.json();
    // The stream's samples taken meanwhile, after the history's last.
    const last = h.samples.length ? Date.parse(h.samples[h.samples.length - 1].t) : -Infinity;
    live.samples = h.samples.concat(live.samples.filter(s => Date.parse(s.t) > last)).slice(-PLOT_MAX);
    drawPlots();
  }
}

// loadTrace draws id's sequence diagram from /tcp/trace. Of loads that
// overlap, the last begun is drawn: an answer that comes late is dropped.
async function loadTrace(id) {
  const n = ++live.loads;
  const r = await fetch('trace?conn=' + encodeURIComponent(id));
  const body = r.ok ? await r.json() : await r.text();
  if (live.picked !== id || n !== live.loads) return;
  const box = $('#seq');
  if (!r.ok) {
    const p = document.createElement('p');
    p.className = 'hint';
    p.textContent = 'No trace: ' + body;
    box.replaceChildren(p);
    return;
  }
  const tr = body;
  const ends = [tr.local, tr.remote];
  const lay = seqLayout(tr.events, ends);
  const note = document.createElement('p');
  note.className = 'hint';
  note.textContent = 'Relative sequence numbers. synack keeps this side only: the peer\'s states are inferred from its segments (in italics).' +
    (tr.overwritten ? ` The ring overwrote the ${tr.overwritten} oldest events.` : '');
  box.replaceChildren(seqRender(lay, { names: [tr.host || 'synack', 'peer'], ends }), note);
}

function addSample(s) {
  const last = live.samples[live.samples.length - 1];
  if (last && last.t === s.t) live.samples[live.samples.length - 1] = s; // one instant (a clock standing still): its newest values
  else live.samples.push(s);
  if (live.samples.length > PLOT_MAX) live.samples.shift();
  drawPlots();
}

function drawPlots() {
  const s = live.samples;
  plot($('#plot-bytes'), s, [['cwnd', x => x.cwnd], ['in flight', x => x.inflight]], fmtBytes);
  plot($('#plot-rtt'), s, [['SRTT', x => x.srtt_us]], fmtUs);
  $('#plotnote').textContent = s.length ? `${s.length} sample${s.length > 1 ? 's' : ''} (at most ${PLOT_MAX}), one per instant of the stack's clock.` : '';
}

// plot draws series of points over time in el.
function plot(el, pts, series, fmt) {
  const W = 380, H = 168, L = 54, R = 8, T = 10, B = 22;
  const svg = svgEl('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}` });
  const ts = pts.map(p => Date.parse(p.t));
  const t0 = Math.min(...ts), t1 = Math.max(...ts);
  let vmax = 1;
  for (const [, f] of series) for (const p of pts) vmax = Math.max(vmax, f(p));
  const X = t => L + (t1 > t0 ? (t - t0) / (t1 - t0) : 1) * (W - L - R);
  const Y = v => H - B - v / vmax * (H - T - B);
  svg.appendChild(svgEl('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' }));
  svg.appendChild(svgEl('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' }));
  svg.appendChild(svgEl('text', { x: L - 4, y: T + 8, 'text-anchor': 'end' }, fmt(vmax)));
  svg.appendChild(svgEl('text', { x: L - 4, y: H - B, 'text-anchor': 'end' }, '0'));
  svg.appendChild(svgEl('text', { x: W - R, y: H - 6, 'text-anchor': 'end' }, pts.length ? ((t1 - t0) / 1000).toFixed(1) + ' s' : 'no samples yet'));
  series.forEach(([name, f], k) => {
    if (pts.length) {
      svg.appendChild(svgEl('polyline', { class: 'series s' + k, points: pts.map((p, i) => X(ts[i]) + ',' + Y(f(p))).join(' ') }));
    }
    svg.appendChild(svgEl('text', { x: L + 8 + k * 90, y: T + 8, class: 'legend s' + k }, name));
  });
  el.replaceChildren(svg);
}

// connect opens the event stream; EventSource reconnects by itself.
function connect() {
  const es = new EventSource('events');
  es.onopen = () => { $('#status').textContent = 'live'; $('#status').classList.remove('down'); };
  es.onerror = () => { $('#status').textContent = 'reconnecting…'; $('#status').classList.add('down'); };
  es.onmessage = m => onTable(JSON.parse(m.data));
}

// The lab: a run's connections drawn step by step, one segment a step.
const labs = { rec: null, stops: [], pos: 0 };

async function loadLab(name) {
  const r = await fetch('lab/' + encodeURIComponent(name));
  if (!r.ok) { $('#labsummary').textContent = await r.text(); return; }
  labs.rec = await r.json();
  // One list of stops over every connection in turn: [conn, event index].
  labs.stops = [];
  labs.rec.conns.forEach((c, k) => { for (const i of seqSteps(c.events)) labs.stops.push([k, i]); });
  labs.pos = 0;
  $('#labsummary').textContent = `${labs.rec.name}: ${labs.rec.summary}` + (labs.rec.faults ? ` (${labs.rec.faults})` : '');
  $('#labstory').textContent = '';
  $('#laboutcome').textContent = '';
  $('#labrfc').textContent = '';
  drawLab();
}

function drawLab() {
  const rec = labs.rec;
  if (!rec) return;
  const [ck, upto] = labs.stops[labs.pos];
  const out = [];
  rec.conns.forEach((c, k) => {
    if (k > ck) return;
    if (c.caption) { const p = document.createElement('p'); p.className = 'caption'; p.textContent = c.caption; out.push(p); }
    const lim = k < ck ? Infinity : upto - 1;
    const div = document.createElement('div');
    div.className = 'diagram';
    let newest;
    if (k === ck) for (let i = 0; i < upto; i++) if (c.events[i].kind === 'sent') newest = i; // the segment this step added
    div.appendChild(seqRender(seqLayout(c.events, [c.left, c.right]), { names: ['client', 'server'], ends: [c.left, c.right], upto: lim, newest }));
    out.push(div);
  });
  $('#labdiagrams').replaceChildren(...out);
  const end = labs.pos === labs.stops.length - 1;
  $('#labpos').textContent = `step ${labs.pos} of ${labs.stops.length - 1}`;
  $('#laboutcome').textContent = end ? rec.outcome.join('\n') + `\nprotocol time: ${rec.elapsed / 1e9}s` : '';
  $('#labstory').textContent = end ? rec.story : '';
  $('#labrfc').textContent = end ? 'Follows ' + rec.rfc + '.' : '';
  $('#prev').disabled = $('#first').disabled = labs.pos === 0;
  $('#next').disabled = $('#last').disabled = end;
}

function step(to) {
  labs.pos = Math.max(0, Math.min(labs.stops.length - 1, to));
  drawLab();
}

async function initLab() {
  const r = await fetch('lab/');
  const list = await r.json();
  const sel = $('#labname');
  for (const s of list) {
    const o = document.createElement('option');
    o.value = s.name;
    o.textContent = s.name + ': ' + s.summary;
    sel.appendChild(o);
  }
  sel.addEventListener('change', () => { location.hash = 'lab/' + sel.value; });
  $('#first').onclick = () => step(0);
  $('#prev').onclick = () => step(labs.pos - 1);
  $('#next').onclick = () => step(labs.pos + 1);
  $('#last').onclick = () => step(labs.stops.length - 1);
  document.addEventListener('keydown', e => {
    if ($('#lab').hidden) return;
    if (e.key === 'ArrowRight') step(labs.pos + 1);
    if (e.key === 'ArrowLeft') step(labs.pos - 1);
  });
}

// route shows #live or #lab/NAME.
function route() {
  const h = location.hash.replace(/^#/, '');
  const lab = h.startsWith('lab');
  $('#live').hidden = lab;
  $('#lab').hidden = !lab;
  $('#tab-live').classList.toggle('on', !lab);
  $('#tab-lab').classList.toggle('on', lab);
  if (lab) {
    const name = h.slice(4) || $('#labname').value || 'handshake';
    $('#labname').value = name;
    if (!labs.rec || labs.rec.name !== name) loadLab(name);
  }
}

fsmDraw($('#fsm'));
drawPlots();
if (self) $('#selfnote').textContent = 'This page came over ' + self + ': it is picked for you.';
initLab().then(route);
window.addEventListener('hashchange', route);
connect();
