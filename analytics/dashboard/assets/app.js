// The dashboard of sdp up: it renders the snapshots of GET /v1/dashboard/stream (server-sent events) and,
// when the stream is not available, polls GET /v1/dashboard once a second. ?feed=poll forces polling.
'use strict';

(() => {
  const $ = sel => document.querySelector(sel);
  const num = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const dec = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
  const hhmm = t => new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false });
  const hhmmss = t => new Date(t).toLocaleTimeString([], { hour12: false });
  // A window's times are shown to the minute, or to the second when windows are shorter than a minute.
  const timeOf = w => (Date.parse(w.end) - Date.parse(w.start) < 60000 ? hhmmss : hhmm);
  const windowLabel = w => timeOf(w)(w.start);

  // Figures: each element with data-metric gets the raw value in data-value and the formatted one as text.
  const formats = {
    count: v => num.format(v),
    rate: v => dec.format(v),
    ms: v => (v >= 1000 ? dec.format(v / 1000) + ' s' : (v >= 100 ? num.format(v) : dec.format(v)) + ' ms'),
  };
  function setMetric(name, value, format) {
    for (const el of document.querySelectorAll(`[data-metric="${name}"]`)) {
      const missing = value === null || value === undefined;
      el.dataset.value = missing ? '' : String(value);
      el.textContent = missing ? '–' : format(value);
    }
  }

  // last is the snapshot shown.
  let last = null;

  // Charts: ECharts when it loaded; the figures work without it.
  const charts = {};
  function chart(id) {
    if (!window.echarts) return null;
    if (!charts[id]) charts[id] = echarts.init(document.getElementById(id), null, { renderer: 'canvas' });
    return charts[id];
  }
  window.addEventListener('resize', () => Object.values(charts).forEach(c => c.resize()));
  const base = {
    animation: false,
    grid: { left: 48, right: 16, top: 28, bottom: 24 },
    tooltip: { trigger: 'axis', confine: true },
    legend: { top: 0, type: 'scroll', textStyle: { fontSize: 11 } },
  };

  function render(s) {
    const ing = s.ingest || {};
    setMetric('snapshotTime', s.time, hhmmss);
    setMetric('ingestRate', ing.rate, formats.rate);
    setMetric('rateWindowSeconds', ing.rate == null ? null : ing.rateWindowSeconds, formats.rate);
    setMetric('accepted', ing.accepted, formats.count);
    setMetric('rejected', ing.rejected, formats.count);
    setMetric('rejectRate', ing.rejectRate, formats.rate);
    setMetric('refused', Object.values(ing.refused || {}).reduce((a, b) => a + b, 0), formats.count);
    setMetric('consumerLagMs', s.consumer ? s.consumer.lagMs : null, formats.ms);
    setMetric('shards', s.consumer ? s.consumer.shards.length : null, formats.count);
    const wf = s.workflow || {};
    setMetric('workflowP99Ms', wf.p99Ms, formats.ms);
    setMetric('workflowP50Ms', wf.p50Ms, formats.ms);
    setMetric('executions', wf.executions, formats.count);
    setMetric('failedExecutions', wf.failed, formats.count);
    setMetric('dlqDepth', s.dlqDepth, formats.count);
    setMetric('curated', s.curated, formats.count);

    const errs = Object.entries(s.errors || {});
    const errEl = $('#errors');
    errEl.hidden = errs.length === 0;
    errEl.textContent = errs.map(([part, msg]) => `${part}: ${msg}`).join(' · ');

    renderRejects(ing.rejectedBy || {});
    renderRate(ing.series || []);
    const agg = { ...(s.aggregates || {}) };
    agg.windows = agg.windows || [];
    agg.types = agg.types || [];
    renderCounts(agg);
    renderMeasure(agg);
    renderWindows(agg);
  }

  function renderRejects(by) {
    const reasons = Object.entries(by).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const list = $('#rejects');
    if (reasons.length === 0) {
      list.innerHTML = '<li class="muted">none</li>';
    } else {
      list.replaceChildren(...reasons.map(([reason, n]) => {
        const li = document.createElement('li');
        const name = document.createElement('span');
        name.textContent = reason;
        const b = document.createElement('b');
        b.dataset.metric = 'rejectedBy';
        b.dataset.reason = reason;
        b.dataset.value = String(n);
        b.textContent = num.format(n);
        li.append(name, b);
        return li;
      }));
    }
    const c = chart('chart-rejects');
    if (!c) return;
    const top = reasons.slice(0, 8).reverse();
    c.setOption({
      ...base, legend: { show: false }, tooltip: { trigger: 'item', confine: true },
      grid: { left: 110, right: 24, top: 8, bottom: 24 },
      xAxis: { type: 'value', minInterval: 1 },
      yAxis: { type: 'category', data: top.map(r => r[0]), axisLabel: { width: 100, overflow: 'truncate' } },
      series: [{ type: 'bar', data: top.map(r => r[1]), itemStyle: { color: '#c2410c' }, label: { show: true, position: 'right' } }],
    }, true);
  }

  function renderRate(series) {
    const c = chart('chart-rate');
    if (!c) return;
    c.setOption({
      ...base,
      xAxis: { type: 'time', axisLabel: { formatter: v => hhmmss(v) } },
      yAxis: { type: 'value', min: 0 },
      series: [
        { name: 'accepted', type: 'line', showSymbol: false, areaStyle: { opacity: 0.15 }, data: series.map(p => [p.t, p.accepted]) },
        { name: 'rejected', type: 'line', showSymbol: false, itemStyle: { color: '#c2410c' }, data: series.map(p => [p.t, p.rejected]) },
      ],
    }, true);
  }

  function renderCounts(agg) {
    const c = chart('chart-counts');
    if (!c) return;
    const labels = agg.windows.map(windowLabel);
    c.setOption({
      ...base,
      xAxis: { type: 'category', data: labels },
      yAxis: { type: 'value', min: 0, minInterval: 1 },
      series: agg.types.map(type => ({
        name: type, type: 'bar', stack: 'count',
        data: agg.windows.map(w => { const t = w.types.find(x => x.type === type); return t ? t.count : 0; }),
      })),
    }, true);
  }

  // The measure chart shows one type, source and measure, chosen in the select; the choice survives updates.
  const SEP = '\u001f';
  function renderMeasure(agg) {
    const keys = new Set();
    for (const w of agg.windows) for (const t of w.types) for (const s of t.sources)
      for (const m of Object.keys(s.measures || {})) keys.add([t.type, s.source, m].join(SEP));
    const sel = $('#measure');
    const sorted = [...keys].sort();
    const current = sel.value;
    if (sorted.join('\n') !== [...sel.options].map(o => o.value).join('\n')) {
      sel.replaceChildren(...sorted.map(k => {
        const [type, source, m] = k.split(SEP);
        const o = document.createElement('option');
        o.value = k;
        o.textContent = `${type} · ${m} · ${source}`;
        return o;
      }));
      if (sorted.includes(current)) sel.value = current;
    }
    const c = chart('chart-measure');
    if (!c) return;
    const [type, source, m] = (sel.value || '').split(SEP);
    const pick = (w, q) => {
      const t = w.types.find(x => x.type === type);
      const s = t && t.sources.find(x => x.source === source);
      const st = s && s.measures && s.measures[m];
      return st && st.count > 0 ? st[q] : null;
    };
    c.setOption({
      ...base,
      xAxis: { type: 'category', data: agg.windows.map(windowLabel) },
      yAxis: { type: 'value', scale: true },
      series: ['p50', 'p99'].map(q => ({ name: q, type: 'line', connectNulls: true, data: agg.windows.map(w => pick(w, q)) })),
    }, true);
  }
  $('#measure').addEventListener('change', () => {
    const agg = (last && last.aggregates) || {};
    renderMeasure({ windows: agg.windows || [], types: agg.types || [] });
  });

  const MAX_ROWS = 60;
  function renderWindows(agg) {
    const from = agg.from ? hhmm(agg.from) : '';
    $('#span').textContent = from ? `since ${from}, newest first` : '';
    const rows = [];
    for (const w of [...agg.windows].reverse()) {
      for (const t of w.types) {
        if (rows.length >= MAX_ROWS) break;
        const tr = document.createElement('tr');
        tr.dataset.window = w.start;
        tr.dataset.type = t.type;
        tr.className = t.closed ? 'closed' : 'open';
        const cell = (text, field, value, cls) => {
          const td = document.createElement('td');
          td.textContent = text;
          if (field) { td.dataset.field = field; td.dataset.value = String(value); }
          if (cls) td.className = cls;
          return td;
        };
        // The type's sources are in the cell's title; several are counted together.
        const typeCell = cell(t.type, null, null, null);
        typeCell.title = t.sources.map(x => x.source).join('\n');
        if (t.sources.length > 1) {
          const small = document.createElement('span');
          small.className = 'muted';
          small.textContent = ` · ${t.sources.length} sources`;
          typeCell.append(small);
        }
        const top = (t.topSubjects || []).slice(0, 3).map(x => `${x.subject} (${num.format(x.count)})`).join(', ');
        tr.append(
          cell(`${timeOf(w)(w.start)}–${timeOf(w)(w.end)}`, null, null, null),
          typeCell,
          cell(num.format(t.count), 'count', t.count, 'num'),
          cell((t.uniquesUpperBound ? '≤ ' : '') + num.format(t.uniques), 'uniques', t.uniques, 'num'),
          cell(num.format(t.late), 'late', t.late, 'num'),
          cell(t.closed ? 'closed' : 'open', 'closed', t.closed, null),
          cell(top || '–', null, null, 'top'),
        );
        rows.push(tr);
      }
    }
    const body = $('#windows');
    if (rows.length === 0) {
      body.innerHTML = '<tr><td colspan="7" class="muted">no events in the last minutes</td></tr>';
    } else {
      body.replaceChildren(...rows);
    }
  }

  // Feeds.
  function show(s) {
    last = s;
    render(s);
  }
  function setFeed(state) {
    document.body.dataset.feed = state;
    $('#feed').textContent = { sse: 'live', poll: 'polling', reconnecting: 'reconnecting…', offline: 'not reachable' }[state] || state;
  }

  // withKey passes on the API key the page was opened with (/?key=KEY), for a stack that requires one.
  function withKey(path) {
    const key = new URLSearchParams(location.search).get('key');
    return key ? path + '?key=' + encodeURIComponent(key) : path;
  }

  let polling = false;
  function startPolling() {
    if (polling) return;
    polling = true;
    const poll = async () => {
      try {
        const r = await fetch(withKey('/v1/dashboard'), { cache: 'no-store' });
        if (!r.ok) throw new Error(r.status + ' ' + r.statusText);
        show(await r.json());
        setFeed('poll');
      } catch (e) {
        setFeed('offline');
      } finally {
        setTimeout(poll, 1000);
      }
    };
    poll();
  }

  function startStream() {
    const params = new URLSearchParams(location.search);
    if (!('EventSource' in window) || params.get('feed') === 'poll') return startPolling();
    const es = new EventSource(withKey('/v1/dashboard/stream'));
    let got = false;
    // A stream that sends nothing within 5 s (a proxy that buffers it, say) is given up for polling.
    const giveUp = setTimeout(() => { if (!got) { es.close(); startPolling(); } }, 5000);
    es.addEventListener('snapshot', ev => {
      got = true;
      setFeed('sse');
      show(JSON.parse(ev.data));
    });
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        clearTimeout(giveUp);
        startPolling();
      } else {
        setFeed('reconnecting');
      }
    };
  }

  startStream();
})();
