// The cluster page (GET /ui), served by every node and by `npm run sim:view`.
// Plain browser JavaScript with no dependencies, so nothing comes from a CDN.
// Live mode: one event stream per member (GET /v1/events, the others through
// this node's /ui/members/{id}/ proxy), the role machine drawn from the
// definition the node serves (/ui/assets/machine.json), a key browser and a
// chart. Replay mode: the same views over a trace file, stepped on a timeline.

const mode = document.querySelector('meta[name="kvstore-mode"]').content;
document.body.dataset.mode = mode;
document.getElementById('mode').textContent = mode === 'live' ? 'live' : 'replay';

const TRANSITIONS_SHOWN = 20;
const CHART_SAMPLES = 300;
const RECONNECT_MS_MAX = 5000;

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const svg = ['svg', 'g', 'rect', 'path', 'text', 'title', 'polyline', 'line', 'marker', 'defs', 'tspan'].includes(tag);
  const e = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  for (const c of children) e.append(c);
  return e;
};
const roleName = (r) => (r === 'preCandidate' ? 'pre_candidate' : r);
const machineRole = (r) => (r === 'pre_candidate' ? 'preCandidate' : r);

// ---------------------------------------------------------------------------
// The role machine, drawn from its definition.

let graph = null;
let selected = null;

/** States on a circle in breadth-first order from the initial one; edges between each pair merged, curved apart. */
function drawDiagram(current, lastTransition) {
  const svg = $('diagram');
  svg.replaceChildren();
  if (graph === null) return;
  const W = 640, H = 420, R = 150, cx = W / 2, cy = H / 2;
  const order = [graph.initial];
  for (let k = 0; k < order.length; k++) for (const e of graph.edges) if (e.from === order[k] && !order.includes(e.to)) order.push(e.to);
  for (const s of graph.states) if (!order.includes(s.id)) order.push(s.id);
  const pos = new Map(order.map((id, k) => [id, { x: cx + R * 1.35 * Math.cos(Math.PI + (2 * Math.PI * k) / order.length), y: cy + R * Math.sin(Math.PI + (2 * Math.PI * k) / order.length) }]));
  svg.append(el('defs', {}, el('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, el('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#999' }))));
  const pairs = new Map();
  for (const e of graph.edges) {
    const key = `${e.from}>${e.to}`;
    const p = pairs.get(key) ?? { from: e.from, to: e.to, labels: [] };
    p.labels.push(e.events.join(', ') + (e.guard ? ` [${e.guard}]` : ''));
    pairs.set(key, p);
  }
  const BW = 120, BH = 44;
  for (const p of pairs.values()) {
    const a = pos.get(p.from), b = pos.get(p.to);
    const taken = lastTransition && machineRole(lastTransition.from) === p.from && machineRole(lastTransition.to) === p.to;
    const g = el('g', { class: `edge${taken ? ' taken' : ''}`, 'data-from': p.from, 'data-to': p.to });
    let d, lx, ly;
    if (p.from === p.to) {
      const top = a.y - BH / 2;
      d = `M ${a.x - 20} ${top} C ${a.x - 40} ${top - 55}, ${a.x + 40} ${top - 55}, ${a.x + 20} ${top}`;
      lx = a.x; ly = top - 46;
    } else {
      const dx = b.x - a.x, dy = b.y - a.y, len = Math.hypot(dx, dy);
      const ux = dx / len, uy = dy / len;
      const sx = a.x + ux * (BW / 2 - 6), sy = a.y + uy * (BH / 2 + 4), ex = b.x - ux * (BW / 2 - 6), ey = b.y - uy * (BH / 2 + 4);
      const bend = 34;
      const mx = (sx + ex) / 2 - uy * bend, my = (sy + ey) / 2 + ux * bend;
      d = `M ${sx} ${sy} Q ${mx} ${my} ${ex} ${ey}`;
      lx = (sx + 2 * mx + ex) / 4; ly = (sy + 2 * my + ey) / 4;
    }
    const full = p.labels.join('\n');
    const short = p.labels.length > 1 ? `${p.labels[0].slice(0, 34)} (+${p.labels.length - 1})` : p.labels[0].slice(0, 44);
    g.append(el('path', { d, 'marker-end': 'url(#arrow)' }), el('text', { x: lx, y: ly }, short), el('title', {}, full));
    svg.append(g);
  }
  for (const s of graph.states) {
    const c = pos.get(s.id);
    const isCurrent = current !== null && machineRole(current) === s.id;
    const g = el('g', { class: `state${isCurrent ? ' current' : ''}`, 'data-state': s.id, 'data-testid': `state-${s.id}` });
    g.append(el('rect', { x: c.x - BW / 2, y: c.y - BH / 2, width: BW, height: BH, rx: 10 }), el('text', { x: c.x, y: c.y - (s.regions.length ? 6 : 0) }, s.id));
    if (s.type === 'parallel') g.append(el('text', { x: c.x, y: c.y + 11, class: 'regions' }, `∥ ${s.regions.join(' · ')}`));
    svg.append(g);
  }
}

function showTransitions(list) {
  const ol = $('transitions');
  ol.replaceChildren();
  for (const t of list.slice(-TRANSITIONS_SHOWN).reverse()) {
    const when = t.at_ms !== undefined ? new Date(t.at_ms).toISOString().slice(11, 23) : `t=${t.t}`;
    ol.append(el('li', { 'data-testid': 'transition' }, `${when} ${roleName(t.from)} → ${roleName(t.to)} (term ${t.term}) `, el('span', { class: 'ev' }, `on ${t.event}`)));
  }
}

// ---------------------------------------------------------------------------
// The members table, shared by both modes: rows of { id, role, term, leader_id, commit_index, applied_index, last_log_index, connection }.

function renderMembers(rows) {
  const tbody = $('members').querySelector('tbody');
  tbody.replaceChildren();
  const leader = rows.filter((r) => r.up && r.role === 'leader').sort((a, b) => b.term - a.term)[0];
  for (const r of rows) {
    const lag = leader && r.up ? Math.max(0, leader.commit_index - r.applied_index) : '';
    const tr = el(
      'tr',
      { 'data-testid': 'member-row', 'data-id': r.id, 'data-role': r.up ? r.role : 'down', class: r.id === selected ? 'selected' : '' },
      el('td', {}, r.id),
      el('td', { class: `role role-${r.role}${r.up ? '' : ' down'}` }, r.up ? r.role : `down (${r.role})`),
      el('td', {}, r.term ?? ''),
      el('td', {}, r.leader_id ?? '—'),
      el('td', {}, r.commit_index ?? ''),
      el('td', {}, r.applied_index ?? ''),
      el('td', {}, r.last_log_index ?? ''),
      el('td', { 'data-testid': 'lag' }, lag),
      el('td', { class: r.up ? '' : 'down' }, r.connection),
    );
    tr.addEventListener('click', () => {
      selected = r.id;
      refresh();
    });
    tbody.append(tr);
  }
  const leaders = rows.filter((r) => r.up && r.role === 'leader');
  $('summary').textContent = `${rows.length} members, ${leaders.length === 1 ? `leader ${leaders[0].id}` : `${leaders.length} leaders`}`;
  $('summary').dataset.leaders = String(leaders.length);
  $('summary').dataset.leader = leaders.length === 1 ? leaders[0].id : '';
}

let refresh = () => {};

// ---------------------------------------------------------------------------
// Live mode.

const token = () => sessionStorage.getItem('kvstore-token') ?? '';
const authHeaders = () => (token() === '' ? {} : { Authorization: `Bearer ${token()}` });
$('token').value = token();
$('token').addEventListener('change', () => sessionStorage.setItem('kvstore-token', $('token').value.trim()));

/** Server-Sent Events over fetch (it can carry a token), reconnecting with Last-Event-ID. */
async function follow(url, onEvent, onConnection) {
  let lastId = null;
  let delay = 250;
  for (;;) {
    try {
      const headers = { Accept: 'text/event-stream', ...authHeaders() };
      if (lastId !== null) headers['Last-Event-ID'] = lastId;
      const r = await fetch(url, { headers, cache: 'no-store' });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      onConnection('live');
      delay = 250;
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message', data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) lastId = line.slice(4);
            else if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data !== '') onEvent(event, JSON.parse(data));
        }
      }
      onConnection('reconnecting');
    } catch (e) {
      onConnection(`unreachable (${e.message})`);
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(RECONNECT_MS_MAX, delay * 2);
  }
}

async function live() {
  graph = await (await fetch('/ui/assets/machine.json')).json();
  let self = null;
  for (;;) {
    try {
      const r = await fetch('/v1/status', { headers: authHeaders(), cache: 'no-store' });
      if (r.ok) {
        self = await r.json();
        break;
      }
      $('summary').textContent = r.status === 401 ? 'this node needs a token: enter it above' : `status: HTTP ${r.status}`;
    } catch (e) {
      $('summary').textContent = `cannot reach this node: ${e.message}`;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  selected = self.id;
  const members = new Map(self.members.map((m) => [m.id, { state: null, transitions: [], connection: 'connecting' }]));
  const samples = [];
  refresh = () => {
    const rows = [...members].map(([id, m]) => ({
      id,
      up: m.state !== null && m.connection === 'live',
      role: m.state?.role ?? '?',
      term: m.state?.term,
      leader_id: m.state?.leader_id,
      commit_index: m.state?.commit_index,
      applied_index: m.state?.applied_index,
      last_log_index: m.state?.last_log_index,
      connection: m.connection === 'live' && m.state ? `live; peers ${m.state.connected_peers.join(',') || 'none'}` : m.connection,
    }));
    renderMembers(rows);
    const m = members.get(selected);
    $('selected').textContent = selected;
    drawDiagram(m?.state && m.connection === 'live' ? m.state.role : null, m?.transitions.at(-1));
    showTransitions(m?.transitions ?? []);
  };
  for (const [id, m] of members) {
    const url = id === self.id ? '/v1/events' : `/ui/members/${encodeURIComponent(id)}/v1/events`;
    follow(
      url,
      (event, data) => {
        if (event === 'hello') {
          m.state = data.status;
          m.transitions = data.transitions;
        } else if (event === 'status') m.state = data;
        else if (event === 'transition') {
          m.transitions.push(data);
          if (m.transitions.length > 50) m.transitions.shift();
        }
        refresh();
      },
      (c) => {
        m.connection = c;
        refresh();
      },
    );
  }
  setInterval(() => {
    const states = [...members.values()].filter((m) => m.connection === 'live' && m.state).map((m) => m.state);
    samples.push({ at: Date.now(), commit: Math.max(0, ...states.map((s) => s.commit_index)), requests: states.reduce((n, s) => n + s.requests_total, 0) });
    if (samples.length > CHART_SAMPLES) samples.shift();
    drawChart(samples);
  }, 1000);
  setupKeyBrowser();
}

function drawChart(samples) {
  const svg = $('chart');
  svg.replaceChildren();
  const W = 640, H = 200, L = 50, B = 20, T = 10;
  svg.append(el('line', { x1: L, y1: H - B, x2: W - 50, y2: H - B, class: 'axis' }));
  if (samples.length < 2) return;
  const rates = samples.map((s, k) => (k === 0 ? 0 : Math.max(0, ((s.requests - samples[k - 1].requests) * 1000) / (s.at - samples[k - 1].at))));
  const maxCommit = Math.max(1, ...samples.map((s) => s.commit));
  const minCommit = Math.min(...samples.map((s) => s.commit));
  const maxRate = Math.max(1, ...rates);
  const x = (k) => L + ((W - 50 - L) * k) / (CHART_SAMPLES - 1);
  const yc = (v) => H - B - ((H - B - T) * (v - minCommit)) / Math.max(1, maxCommit - minCommit);
  const yr = (v) => H - B - ((H - B - T) * v) / maxRate;
  svg.append(
    el('polyline', { class: 'commit', points: samples.map((s, k) => `${x(k)},${yc(s.commit)}`).join(' ') }),
    el('polyline', { class: 'rate', points: rates.map((r, k) => `${x(k)},${yr(r)}`).join(' ') }),
    el('text', { x: 2, y: T + 8 }, `commit ${maxCommit}`),
    el('text', { x: 2, y: H - B }, `${minCommit}`),
    el('text', { x: W - 48, y: T + 8 }, `${maxRate.toFixed(0)} req/s`),
    el('text', { x: L, y: H - 4 }, `commit index (blue), requests/s (orange), one sample a second`),
  );
}

function setupKeyBrowser() {
  const out = $('kb-result');
  const keyUrl = () => `/v1/kv/${encodeURIComponent($('kb-key').value)}`;
  // Writes and linearizable reads go where the leader is; this node's proxy follows the leader's redirects.
  const call = async (method, body) => {
    out.textContent = '…';
    delete out.dataset.status;
    try {
      const viaProxy = `/ui/members/self${keyUrl()}`;
      const r = await fetch(viaProxy, { method, body, headers: authHeaders(), cache: 'no-store' });
      const text = await r.text();
      const rev = r.headers.get('ETag');
      out.dataset.status = String(r.status);
      if (method === 'GET' && r.ok) out.textContent = `${r.status} revision ${rev?.replaceAll('"', '')}\n${text}`;
      else out.textContent = `${r.status} ${text}`;
      out.dataset.revision = rev?.replaceAll('"', '') ?? (r.ok && method !== 'GET' ? String(JSON.parse(text).revision) : '');
    } catch (e) {
      out.dataset.status = 'failed';
      out.textContent = `failed: ${e.message}`;
    }
  };
  $('kb-get').addEventListener('click', () => call('GET'));
  $('kb-put').addEventListener('click', () => call('PUT', $('kb-value').value));
  $('kb-delete').addEventListener('click', () => call('DELETE'));
}

// ---------------------------------------------------------------------------
// Replay mode: a trace file (sim/trace-file.ts records), one step per record.

async function replay() {
  graph = await (await fetch('/ui/assets/machine.json')).json();
  const text = await (await fetch('/ui/replay.jsonl')).text();
  const records = text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
  const meta = records.find((r) => r.type === 'meta') ?? { nodes: [] };
  const nodes = meta.nodes.length > 0 ? meta.nodes : [...new Set(records.filter((r) => r.node).map((r) => r.node))];
  selected = nodes[0];
  // Per node: the indexes of its state and transition records, for a binary search at any step.
  const statesAt = new Map(nodes.map((n) => [n, []]));
  const transitionsAt = new Map(nodes.map((n) => [n, []]));
  const transitionSteps = [];
  let violation = -1;
  records.forEach((r, k) => {
    if (r.type === 'state') statesAt.get(r.node)?.push(k);
    if (r.type === 'transition') {
      transitionsAt.get(r.node)?.push(k);
      transitionSteps.push(k);
    }
    if (r.type === 'violation') violation = k;
  });
  const lastBefore = (list, k) => {
    let lo = 0, hi = list.length - 1, best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid] <= k) { best = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return best;
  };
  const slider = $('tl-slider');
  slider.max = String(records.length - 1);
  const marks = $('tl-marks');
  const markAt = (k, cls) => marks.append(el('span', { class: cls, style: `left: ${(100 * k) / Math.max(1, records.length - 1)}%`, title: records[k].type }));
  for (const k of transitionSteps.filter((_, i) => i % Math.ceil(transitionSteps.length / 200 || 1) === 0)) markAt(k, 'transition');
  if (violation >= 0) markAt(violation, 'violation');
  $('tl-violation').disabled = violation < 0;
  let step = violation >= 0 ? violation : 0;
  refresh = () => {
    slider.value = String(step);
    const r = records[step];
    $('tl-position').textContent = `step ${step} of ${records.length - 1}${r.t !== undefined ? `, t=${Math.round(r.t)} ms` : ''}`;
    const what = r.type === 'input' ? `${r.node} ← ${r.event}` : r.type === 'transition' ? `${r.node}: ${r.from} → ${r.to} (term ${r.term}) on ${r.event}` : r.type === 'state' ? `${r.node}: ${r.role} term ${r.term} commit ${r.commit} log ${r.last}@${r.lastTerm}` : r.type === 'violation' ? `VIOLATION ${r.property}: ${r.detail}` : r.type === 'note' ? r.text : r.type === 'end' ? r.summary : r.type;
    $('tl-event').textContent = what;
    $('tl-event').className = r.type === 'violation' ? 'violation' : '';
    const rows = nodes.map((n) => {
      const i = lastBefore(statesAt.get(n), step);
      const s = i < 0 ? null : records[statesAt.get(n)[i]];
      return { id: n, up: s?.up ?? true, role: s?.role ?? 'follower', term: s?.term ?? 0, leader_id: s?.leader ?? null, commit_index: s?.commit ?? 0, applied_index: s?.applied ?? 0, last_log_index: s ? `${s.last}@${s.lastTerm}` : '0', connection: s?.up === false ? 'down' : 'up' };
    });
    renderMembers(rows);
    const mine = transitionsAt.get(selected);
    const lastT = lastBefore(mine, step);
    const upto = mine.slice(0, lastT + 1).map((k) => records[k]);
    const row = rows.find((x) => x.id === selected);
    // A transition recorded after the node's last state record is newer: the state record follows at the end of the step.
    const lastS = lastBefore(statesAt.get(selected), step);
    const role = lastT >= 0 && (lastS < 0 || mine[lastT] > statesAt.get(selected)[lastS]) ? records[mine[lastT]].to : row.role;
    $('selected').textContent = `${selected} at step ${step}`;
    drawDiagram(row.up ? role : null, upto.at(-1));
    showTransitions(upto);
  };
  const go = (k) => {
    step = Math.max(0, Math.min(records.length - 1, k));
    refresh();
  };
  slider.addEventListener('input', () => go(Number(slider.value)));
  $('tl-first').addEventListener('click', () => go(0));
  $('tl-back').addEventListener('click', () => go(step - 1));
  $('tl-forward').addEventListener('click', () => go(step + 1));
  $('tl-next-transition').addEventListener('click', () => go(transitionSteps.find((k) => k > step) ?? step));
  $('tl-violation').addEventListener('click', () => go(violation));
  document.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowRight') go(step + 1);
    if (e.key === 'ArrowLeft') go(step - 1);
  });
  refresh();
}

(mode === 'live' ? live() : replay()).catch((e) => {
  $('summary').textContent = `the page failed: ${e.message}`;
});
