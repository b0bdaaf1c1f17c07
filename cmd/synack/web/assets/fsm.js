// fsm.js: RFC 9293's TCP state diagram (§3.3.2, Figure 5) as SVG, each
// state with the number of sockets in it.
'use strict';

// The states where Figure 5 puts them; CLOSED is drawn twice, as there.
const FSM_BOXES = [
  ['CLOSED', 400, 28], ['LISTEN', 400, 100],
  ['SYN-RECEIVED', 140, 178], ['SYN-SENT', 660, 178],
  ['ESTABLISHED', 400, 256],
  ['FIN-WAIT-1', 140, 336], ['CLOSE-WAIT', 660, 336],
  ['FIN-WAIT-2', 140, 420], ['CLOSING', 400, 420], ['LAST-ACK', 660, 420],
  ['TIME-WAIT', 140, 500], ['CLOSED', 660, 500, 'again'],
];

// The transitions: from, to, the event and what is sent; then, where the
// label would hide another, where it goes along the line (0 to 1) and on
// which side of it (1: the side the line's normal points to, -1: the other).
const FSM_EDGES = [
  ['CLOSED', 'LISTEN', 'passive OPEN'],
  ['LISTEN', 'CLOSED', 'CLOSE'],
  ['CLOSED', 'SYN-SENT', 'active OPEN / snd SYN', 0.4, -1],
  ['SYN-SENT', 'CLOSED', 'CLOSE', 0.75, 1],
  ['LISTEN', 'SYN-RECEIVED', 'rcv SYN / snd SYN,ACK'],
  ['SYN-RECEIVED', 'LISTEN', 'rcv RST'],
  ['LISTEN', 'SYN-SENT', 'SEND / snd SYN', 0.6],
  ['SYN-SENT', 'SYN-RECEIVED', 'rcv SYN / snd SYN,ACK'],
  ['SYN-SENT', 'ESTABLISHED', 'rcv SYN,ACK / snd ACK'],
  ['SYN-RECEIVED', 'ESTABLISHED', 'rcv ACK of SYN'],
  ['SYN-RECEIVED', 'FIN-WAIT-1', 'CLOSE / snd FIN'],
  ['ESTABLISHED', 'FIN-WAIT-1', 'CLOSE / snd FIN'],
  ['ESTABLISHED', 'CLOSE-WAIT', 'rcv FIN / snd ACK'],
  ['FIN-WAIT-1', 'FIN-WAIT-2', 'rcv ACK of FIN'],
  ['FIN-WAIT-1', 'CLOSING', 'rcv FIN / snd ACK'],
  ['CLOSE-WAIT', 'LAST-ACK', 'CLOSE / snd FIN'],
  ['FIN-WAIT-2', 'TIME-WAIT', 'rcv FIN / snd ACK'],
  ['CLOSING', 'TIME-WAIT', 'rcv ACK of FIN'],
  ['LAST-ACK', 'CLOSED*', 'rcv ACK of FIN'],
  ['TIME-WAIT', 'CLOSED*', 'timeout 2MSL'],
];

const FSM_W = 124, FSM_H = 30;

// fsmDraw builds the diagram in el; fsmUpdate fills in the counts.
function fsmDraw(el) {
  const svg = svgEl('svg', { width: 820, height: 530, viewBox: '0 0 820 530', class: 'fsm' });
  const defs = svgEl('defs');
  const m = svgEl('marker', { id: 'fsmarrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto-start-reverse' });
  m.appendChild(svgEl('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#9aa4ae' }));
  defs.appendChild(m);
  svg.appendChild(defs);
  const pos = {};
  for (const [name, x, y, again] of FSM_BOXES) pos[again ? name + '*' : name] = [x, y];
  const pairs = new Set(FSM_EDGES.map(([a, b]) => a + '>' + b));
  for (const [a, b, label, at, side] of FSM_EDGES) {
    let [x0, y0] = pos[a], [x1, y1] = pos[b];
    const len = Math.hypot(x1 - x0, y1 - y0), nx = -(y1 - y0) / len, ny = (x1 - x0) / len;
    // Two ways between the same pair: each moves off the centre line, to
    // its own side, and its label with it.
    const twoWay = pairs.has(b + '>' + a), off = twoWay ? 6 : 0;
    x0 += nx * off; y0 += ny * off; x1 += nx * off; y1 += ny * off;
    const [sx, sy] = clip(x0, y0, x1, y1), [ex, ey] = clip(x1, y1, x0, y0);
    svg.appendChild(svgEl('line', { x1: sx, y1: sy, x2: ex, y2: ey, class: 'edge', 'marker-end': 'url(#fsmarrow)' }));
    let lx = (sx + ex) / 2 + 4, ly = (sy + ey) / 2 - 3, anchor = 'start';
    if (twoWay || at !== undefined) {
      const f = at === undefined ? 0.5 : at, k = side === undefined ? 1 : side;
      lx = sx + (ex - sx) * f + nx * 8 * k; ly = sy + (ey - sy) * f + ny * 8 * k + 3;
      anchor = nx * k < -0.3 ? 'end' : nx * k > 0.3 ? 'start' : 'middle';
    }
    svg.appendChild(svgEl('text', { x: lx, y: ly, 'text-anchor': anchor, class: 'edgelabel' }, label));
  }
  for (const [name, x, y] of FSM_BOXES) {
    const g = svgEl('g', { class: 'box', 'data-state': name });
    g.appendChild(svgEl('rect', { x: x - FSM_W / 2, y: y - FSM_H / 2, width: FSM_W, height: FSM_H }));
    g.appendChild(svgEl('text', { x: x - 6, y: y + 4, 'text-anchor': 'middle' }, name));
    g.appendChild(svgEl('text', { x: x + FSM_W / 2 - 6, y: y + 4, 'text-anchor': 'end', class: 'count' }, ''));
    svg.appendChild(g);
  }
  el.replaceChildren(svg);
}

// clip moves (x0,y0) along the line to (x1,y1) to the edge of its box.
function clip(x0, y0, x1, y1) {
  const dx = x1 - x0, dy = y1 - y0;
  const t = Math.min(dx ? (FSM_W / 2) / Math.abs(dx) : Infinity, dy ? (FSM_H / 2 + 2) / Math.abs(dy) : Infinity);
  return [x0 + dx * t, y0 + dy * t];
}

// fsmUpdate shows counts (state name to number of sockets) in el's diagram.
function fsmUpdate(el, counts) {
  for (const g of el.querySelectorAll('g.box')) {
    const n = counts[g.dataset.state] || 0;
    g.classList.toggle('busy', n > 0);
    g.querySelector('.count').textContent = n > 0 ? String(n) : '';
  }
}
