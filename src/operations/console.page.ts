/**
 * The operator console page: static HTML, a stylesheet and vanilla JavaScript that polls `/console/api/*`; no build
 * step. Script and style are files of their own so that the Content-Security-Policy (`script-src 'self'`) allows them.
 */
export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>customer-service · operator console</title>
<link rel="stylesheet" href="/console/console.css">
</head>
<body>
<h1>customer-service · operator console</h1>
<p class="status">Updated <span id="updated">never</span>. Personal data is masked unless your role allows it.</p>

<h2>Flows</h2>
<table id="flows"><thead><tr><th>input event type</th><th>processed</th><th>per second</th><th>mean lag (s)</th></tr></thead><tbody></tbody></table>

<h2>Backlogs</h2>
<div class="cards">
  <div class="card">Kafka consumer lag<b id="kafka-lag">–</b></div>
  <div class="card">Projection lag (s)<b id="projection-lag">–</b></div>
  <div class="card">Projection lag (events)<b id="projection-events">–</b></div>
  <div class="card">Outbox backlog<b id="outbox">–</b><span id="outbox-detail" class="status"></span></div>
  <div class="card">Dead letters parked<b id="dead-letter-count">–</b><span id="dead-letter-reasons" class="status"></span></div>
</div>

<h2>Dead letters</h2>
<p class="status" id="action-result"></p>
<table id="dead-letters"><thead><tr><th>id</th><th>transport / source</th><th>reason</th><th>parked</th><th>payload (masked)</th><th></th></tr></thead><tbody></tbody></table>

<h2>Customer lookup</h2>
<form id="lookup"><input id="lookup-q" name="q" size="44" placeholder="customer id, user id, customer number or e-mail"> <button type="submit">Look up</button></form>
<pre id="lookup-result"></pre>

<script src="/console/console.js"></script>
</body>
</html>
`;

export const CONSOLE_CSS = `  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2430; }
  h1 { font-size: 1.3rem; margin: 0 0 1rem; } h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
  table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #dde2ea; vertical-align: top; }
  th { background: #f3f5f8; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .cards { display: flex; gap: 1rem; flex-wrap: wrap; } .card { border: 1px solid #dde2ea; border-radius: 6px; padding: .6rem .9rem; min-width: 10rem; }
  .card b { display: block; font-size: 1.4rem; } pre { margin: 0; white-space: pre-wrap; max-width: 40rem; font-size: 12px; }
  button { cursor: pointer; } .status { color: #56607a; font-size: 12px; } .ok { color: #16794a; } .bad { color: #b42318; }
`;

export const CONSOLE_JS = `(() => {
  const $ = (id) => document.getElementById(id);
  const cell = (text, className) => { const td = document.createElement('td'); td.textContent = text; if (className) td.className = className; return td; };
  const getJson = async (url, options) => {
    const response = await fetch(url, Object.assign({ credentials: 'same-origin', headers: { accept: 'application/json' } }, options));
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.message || body.detail || ('HTTP ' + response.status));
    return body;
  };
  let previous;
  async function refreshSummary() {
    const summary = await getJson('/console/api/summary');
    const rows = $('flows').tBodies[0];
    rows.replaceChildren();
    for (const [eventType, flow] of Object.entries(summary.flows)) {
      const before = previous && previous.flows[eventType];
      const seconds = previous ? (Date.parse(summary.at) - Date.parse(previous.at)) / 1000 : 0;
      const count = before ? flow.processed - before.processed : 0;
      const rate = seconds > 0 ? (count / seconds).toFixed(1) : '–';
      const lag = count > 0 ? ((flow.lagSecondsSum - before.lagSecondsSum) / count).toFixed(3) : (flow.processed > 0 ? (flow.lagSecondsSum / flow.processed).toFixed(3) : '–');
      const tr = document.createElement('tr');
      tr.append(cell(eventType), cell(String(flow.processed), 'num'), cell(rate, 'num'), cell(lag, 'num'));
      rows.append(tr);
    }
    if (rows.children.length === 0) { const tr = document.createElement('tr'); tr.append(cell('no input processed yet')); rows.append(tr); }
    previous = summary;
    $('kafka-lag').textContent = String(summary.kafkaConsumerLag);
    $('projection-lag').textContent = summary.projection.lagSeconds.toFixed(1);
    $('projection-events').textContent = String(summary.projection.lagEvents);
    const outbox = Object.entries(summary.outboxBacklog);
    $('outbox').textContent = String(outbox.reduce((total, [, n]) => total + n, 0));
    $('outbox-detail').textContent = outbox.map(([destination, n]) => destination + ': ' + n).join(', ');
    const reasons = Object.entries(summary.deadLetters);
    $('dead-letter-count').textContent = String(reasons.reduce((total, [, n]) => total + n, 0));
    $('dead-letter-reasons').textContent = reasons.map(([reason, n]) => reason + ': ' + n).join(', ');
    $('updated').textContent = new Date(summary.at).toLocaleTimeString();
  }
  async function refreshDeadLetters() {
    const { deadLetters } = await getJson('/console/api/dead-letters');
    const rows = $('dead-letters').tBodies[0];
    rows.replaceChildren();
    for (const letter of deadLetters) {
      const tr = document.createElement('tr');
      tr.dataset.id = letter.id;
      const payload = document.createElement('td');
      const pre = document.createElement('pre');
      pre.textContent = typeof letter.payload === 'string' ? letter.payload : JSON.stringify(letter.payload, null, 2);
      payload.append(pre);
      const actions = document.createElement('td');
      for (const [action, label] of [['replay', 'Replay'], ['discard', 'Discard']]) {
        const button = document.createElement('button');
        button.textContent = label;
        button.dataset.action = action;
        button.addEventListener('click', () => act(letter.id, action));
        actions.append(button, document.createTextNode(' '));
      }
      tr.append(cell(letter.id), cell(letter.transport + ' / ' + letter.source), cell(letter.reasonCode + ': ' + letter.errorMessage),
        cell(new Date(letter.parkedAt).toLocaleString()), payload, actions);
      rows.append(tr);
    }
    if (deadLetters.length === 0) { const tr = document.createElement('tr'); tr.append(cell('no dead letters parked')); rows.append(tr); }
  }
  async function act(id, action) {
    if (action === 'discard' && !confirm('Discard dead letter ' + id + '? It will never be replayed.')) return;
    const result = $('action-result');
    try {
      const report = await getJson('/console/api/dead-letters/' + id + '/' + action, { method: 'POST' });
      result.className = report.outcome === 'replayed' || report.outcome === 'discarded' ? 'status ok' : 'status bad';
      result.textContent = 'Dead letter ' + id + ': ' + report.outcome + (report.detail ? ' (' + report.detail + ')' : '');
    } catch (error) {
      result.className = 'status bad';
      result.textContent = 'Dead letter ' + id + ': ' + error.message;
    }
    await Promise.all([refreshDeadLetters(), refreshSummary()]);
  }
  $('lookup').addEventListener('submit', async (event) => {
    event.preventDefault();
    const out = $('lookup-result');
    try {
      const { customer } = await getJson('/console/api/customers?q=' + encodeURIComponent($('lookup-q').value));
      out.className = '';
      out.textContent = JSON.stringify(customer, null, 2);
    } catch (error) {
      out.className = 'bad';
      out.textContent = error.message;
    }
  });
  const tick = () => Promise.all([refreshSummary(), refreshDeadLetters()]).catch((error) => { $('updated').textContent = 'failed: ' + error.message; });
  tick();
  setInterval(() => refreshSummary().catch(() => undefined), 2000);
  setInterval(() => refreshDeadLetters().catch(() => undefined), 10000);
})();
`;
