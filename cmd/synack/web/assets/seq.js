// seq.js: a connection's sequence diagram as SVG, drawn from its trace
// events (the JSON of /tcp/trace or of a lab run): two timelines, an arrow
// per segment with its flags and numbers, the states down each side.
'use strict';

const SVGNS = 'http://www.w3.org/2000/svg';

// svgEl makes an SVG element with attributes and, if given, text.
function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVGNS, name);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

// segLabel is what an arrow says: flags, seq, ack (when ACK is set), len, win.
function segLabel(e) {
  let s = (e.flags || '') + ' seq=' + (e.seq || 0);
  if ((e.flags || '').split(',').includes('ACK')) s += ' ack=' + (e.ack || 0);
  return s + ' len=' + (e.len || 0) + ' win=' + (e.win || 0);
}

function hasFlag(e, f) { return (e.flags || '').split(',').includes(f); }

// peerInference guesses the peer's state from the segments one side saw,
// for traces that hold one side only (a live connection: synack sees its
// own side). The guesses follow RFC 9293's state diagram and are drawn as
// such (in italics).
function peerInference() {
  let st = '', finEnd = null;
  return {
    // fromPeer is a segment the peer sent; it returns its new state or ''.
    fromPeer(e) {
      let n = st;
      if (hasFlag(e, 'RST')) n = 'CLOSED';
      else if (hasFlag(e, 'SYN')) n = hasFlag(e, 'ACK') ? 'SYN-RECEIVED' : 'SYN-SENT';
      if (hasFlag(e, 'FIN')) {
        finEnd = (e.seq || 0) + (e.len || 0) + 1;
        if (st === 'ESTABLISHED' || st === 'SYN-RECEIVED' || st === '') n = 'FIN-WAIT-1';
        else if (st === 'CLOSE-WAIT') n = 'LAST-ACK';
      }
      return n !== st ? (st = n) : '';
    },
    // toPeer is a segment sent to the peer; it returns its new state or ''.
    toPeer(e) {
      let n = st;
      const ackedFin = finEnd !== null && hasFlag(e, 'ACK') && (e.ack || 0) >= finEnd;
      if (hasFlag(e, 'RST')) n = 'CLOSED';
      else if (hasFlag(e, 'SYN') && hasFlag(e, 'ACK') && st === 'SYN-SENT') n = 'ESTABLISHED';
      else if (hasFlag(e, 'ACK') && st === 'SYN-RECEIVED') n = 'ESTABLISHED';
      if (hasFlag(e, 'FIN')) {
        if (n === 'ESTABLISHED') n = 'CLOSE-WAIT';
        else if (st === 'FIN-WAIT-1') n = ackedFin ? 'TIME-WAIT' : 'CLOSING';
        else if (st === 'FIN-WAIT-2') n = 'TIME-WAIT';
      } else if (ackedFin) {
        if (st === 'FIN-WAIT-1') n = 'FIN-WAIT-2';
        else if (st === 'CLOSING') n = 'TIME-WAIT';
        else if (st === 'LAST-ACK') n = 'CLOSED';
      }
      return n !== st ? (st = n) : '';
    },
  };
}

// seqLayout places events on rows. ends are the two addresses: ends[0] on
// the left. Each item keeps i, the index of the event that shows it.
function seqLayout(events, ends) {
  const side = e => (e.local === ends[0] ? 0 : e.local === ends[1] ? 1 : -1);
  const two = events.some(e => side(e) === 0) && events.some(e => side(e) === 1);
  const items = [], initial = ['', ''], pending = [null, null], lastRecv = [-1, -1];
  const labelled = new Set(), inflight = [], lastMatched = [-1, -1];
  const infer = two ? null : peerInference();
  const key = e => [e.flags, e.seq || 0, e.ack || 0, e.len || 0].join('/');
  let row = 0;
  const place = (s, r, e, i, inferred) => {
    labelled.add(r + ':' + s);
    items.push({ type: 'state', side: s, row: r, text: e.state || e, i, inferred, cause: e.cause || '' });
  };
  const flush = s => {
    if (pending[s]) { place(s, ++row, pending[s].e, pending[s].i); pending[s] = null; }
  };
  events.forEach((e, i) => {
    const s = side(e);
    if (s < 0) return;
    if (e.kind === 'state') {
      if (!initial[s] && !items.some(it => it.type === 'state' && it.side === s)) initial[s] = e.from || '';
      if ((e.cause || '').startsWith('rcv') && lastRecv[s] >= 0 && !labelled.has(lastRecv[s] + ':' + s)) {
        place(s, lastRecv[s], e, i);
      } else {
        flush(s); // a state from a call or a timer waits for the segment it sends
        pending[s] = { e, i };
      }
      return;
    }
    if (e.kind === 'sent') {
      const r = ++row;
      const it = { type: 'seg', from: s, r0: two ? r : r - 0.35, r1: two ? null : r + 0.35, e, i };
      items.push(it);
      if (pending[s]) { place(s, r, pending[s].e, pending[s].i); pending[s] = null; }
      if (two) inflight.push(it);
      else { const p = infer.toPeer(e); if (p) place(1 - s, r + 0.35, p, i, true); }
      return;
    }
    if (e.kind === 'received' || e.kind === 'drop') {
      flush(s);
      const r = ++row;
      lastRecv[s] = r;
      const drop = e.kind === 'drop' ? (e.cause || 'dropped') : '';
      const j = two ? matchSent(inflight, s, e, key, lastMatched[1 - s]) : -1;
      if (j >= 0) {
        lastMatched[1 - s] = inflight[j].i;
        Object.assign(inflight[j], { r1: r, recv: i, drop });
        inflight.splice(j, 1);
      } else {
        // One side's trace (or a segment never seen sent): the arrow has
        // its row to itself.
        items.push({ type: 'seg', from: 1 - s, r0: two ? r - 0.75 : r - 0.35, r1: two ? r : r + 0.35, e, i, drop });
        if (infer) { const p = infer.fromPeer(e); if (p) place(1 - s, r - 0.35, p, i, true); }
      }
      return;
    }
    if (e.kind === 'timer') {
      flush(s);
      items.push({ type: 'note', side: s, row: ++row, text: 'timer: ' + (e.cause || '?'), i });
    }
  });
  flush(0); flush(1);
  for (const it of inflight) { it.lost = true; it.r1 = it.r0 + 0.75; }
  return { items, rows: row + 1, initial, two };
}

// matchSent finds which segment in flight toward side s the received e
// is, among those with its fields (a retransmission has its original's).
// The link keeps order, so it was sent after the last segment matched the
// same way (those unseen before that one were lost); of those, the one
// sent last before e arrived (the original, unseen, was lost); of those
// sent at the same instant, the first (duplicate ACKs sent in a burst
// arrive in order). A link that reorders breaks the first rule: then any
// copy will do. It returns -1 for none.
function matchSent(inflight, s, e, key, after) {
  const k = key(e), at = Date.parse(e.time || '') || 0;
  const pick = floor => {
    let best = -1, bestAt = -Infinity;
    inflight.forEach((x, j) => {
      if (x.from === s || key(x.e) !== k || x.i <= floor) return;
      const t = Date.parse(x.e.time || '') || 0;
      if (t <= at && t > bestAt) { best = j; bestAt = t; }
    });
    return best;
  };
  const j = pick(after);
  return j >= 0 ? j : pick(-1);
}

let seqMarkers = 0;

// seqRender draws a layout. opts: names (the two ends' titles), ends
// (their addresses), upto (draw items of events up to this index), newest
// (the index to highlight).
function seqRender(lay, opts) {
  const X = [200, 620], W = 820, RH = 30, TOP = 60;
  const y = r => TOP + r * RH;
  const H = y(lay.rows) + 12;
  const upto = opts.upto === undefined ? Infinity : opts.upto;
  const mid = 'arrow' + (++seqMarkers);
  const svg = svgEl('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: 'seqdiagram' });
  const defs = svgEl('defs');
  const m = svgEl('marker', { id: mid, viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  m.appendChild(svgEl('path', { d: 'M0,0 L10,5 L0,10 z', fill: 'context-stroke' }));
  defs.appendChild(m);
  svg.appendChild(defs);
  for (const s of [0, 1]) {
    svg.appendChild(svgEl('text', { x: X[s], y: 16, 'text-anchor': 'middle', class: 'end' }, opts.names[s]));
    svg.appendChild(svgEl('text', { x: X[s], y: 31, 'text-anchor': 'middle' }, opts.ends[s]));
    svg.appendChild(svgEl('line', { x1: X[s], y1: TOP - 14, x2: X[s], y2: H - 6, class: 'lifeline' }));
    if (lay.initial[s]) {
      svg.appendChild(stateText(s, TOP - 10, lay.initial[s], false, 'initial'));
    }
  }
  function stateText(s, yy, text, inferred, cause) {
    const t = svgEl('text', { x: s === 0 ? X[0] - 10 : X[1] + 10, y: yy + 4, 'text-anchor': s === 0 ? 'end' : 'start',
      class: 'state' + (inferred ? ' inferred' : ''), 'data-side': s, 'data-state': text }, text);
    t.appendChild(svgEl('title', {}, inferred ? 'inferred from the segments' : cause || ''));
    return t;
  }
  for (const it of lay.items) {
    if (it.i > upto) continue;
    if (it.type === 'state') { svg.appendChild(stateText(it.side, y(it.row), it.text, it.inferred, it.cause)); continue; }
    if (it.type === 'note') {
      svg.appendChild(svgEl('text', { x: it.side === 0 ? X[0] - 10 : X[1] + 10, y: y(it.row) + 4,
        'text-anchor': it.side === 0 ? 'end' : 'start', class: 'note' }, it.text));
      continue;
    }
    const to = 1 - it.from, e = it.e;
    const cls = ['seg'];
    if (hasFlag(e, 'RST')) cls.push('rst');
    if (it.drop) cls.push('drop');
    if (it.lost) cls.push('lost');
    if (opts.newest !== undefined && it.i === opts.newest) cls.push('new');
    const g = svgEl('g', { class: cls.join(' '), 'data-flags': e.flags || '', 'data-dir': it.from === 0 ? 'l2r' : 'r2l',
      'data-seq': e.seq || 0, 'data-ack': e.ack || 0, 'data-len': e.len || 0 });
    const x0 = X[it.from], y0 = y(it.r0);
    let x1 = X[to], y1 = y(it.r1);
    if (it.lost) { x1 = (x0 + x1) / 2; y1 = (y0 + y1) / 2; }
    g.appendChild(svgEl('line', { x1: x0, y1: y0, x2: x1, y2: y1, 'marker-end': it.lost ? '' : `url(#${mid})` }));
    if (it.lost) g.appendChild(svgEl('text', { x: x1 + (to === 1 ? 4 : -4), y: y1 + 5, 'text-anchor': to === 1 ? 'start' : 'end', class: 'mark' }, '✕ lost'));
    if (it.drop) g.appendChild(svgEl('text', { x: x1 + (to === 0 ? 8 : -8), y: y1 + 14, 'text-anchor': to === 0 ? 'start' : 'end', class: 'mark' }, '✕ ' + it.drop));
    // The label runs along the arrow, above it, read left to right.
    const yl = it.from === 0 ? y(it.r0) : y(it.r1), yr = it.from === 0 ? y(it.r1) : y(it.r0);
    const lx = it.lost ? (x0 + x1) / 2 : (X[0] + X[1]) / 2, ly = it.lost ? (y0 + y1) / 2 : (yl + yr) / 2;
    const deg = Math.atan2(yr - yl, X[1] - X[0]) * 180 / Math.PI;
    g.appendChild(svgEl('text', { x: lx, y: ly - 4, 'text-anchor': 'middle', transform: `rotate(${deg.toFixed(2)} ${lx} ${ly})` }, segLabel(e)));
    g.appendChild(svgEl('title', {}, segLabel(e) + (e.time ? '\n' + e.time : '') + (e.options ? '\noptions ' + JSON.stringify(e.options) : '')));
    svg.appendChild(g);
  }
  return svg;
}

// seqSteps are the event indexes a stepper stops before: one stop before
// each segment sent, and one at the end.
function seqSteps(events) {
  const stops = [];
  events.forEach((e, i) => { if (e.kind === 'sent') stops.push(i); });
  stops.push(events.length);
  return stops;
}
