// The Consort explorer: fills the page from this site's explorer/summary.json
// and keeps it live from explorer/events (Server-Sent Events). Plain script,
// no library, no request to any other origin. Every value from the node is
// put in the page as text (textContent), never as markup.
"use strict";

(() => {
  const REFRESH_MIN_MS = 1000;   // at most one summary this often while blocks arrive
  const RECONNECT_MS = 3000;     // wait before reopening a stream the node closed or refused
  const SUMMARY_URL = "explorer/summary.json";
  const EVENTS_URL = "explorer/events";

  const shown = { height: 0, blocks: [], txs: [], limits: { blocks_shown: 12, txs_shown: 20 } };
  let source = null;
  let refreshing = false;
  let refreshAgain = false;
  let refreshTimer = null;
  let lastRefreshMs = 0;

  const $ = (id) => document.getElementById(id);

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    return node;
  }

  function row(cells, attrs) {
    const tr = el("tr", null, attrs);
    for (const cell of cells) tr.append(cell instanceof Node ? cell : el("td", cell));
    return tr;
  }

  function td(text, className, title) {
    const cell = el("td", text);
    if (className) cell.className = className;
    if (title) cell.title = title;
    return cell;
  }

  function fill(tableId, rows) {
    $(tableId).querySelector("tbody").replaceChildren(...rows);
  }

  function setText(id, text) {
    $(id).textContent = text === undefined || text === null ? "–" : String(text);
  }

  const short = (hex, n = 12) => (hex ? hex.slice(0, n) + "…" : "");

  // Digits grouped by threes; amounts come as decimal strings (exact beyond 2^53).
  function grouped(value) {
    const text = String(value);
    const sign = text.startsWith("-") ? "-" : "";
    const digits = sign ? text.slice(1) : text;
    return sign + digits.replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
  }

  function utc(ms) {
    return typeof ms === "number" ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "";
  }

  function what(tx) {
    const b = tx.brief || {};
    if (b.from && b.to && b.amount) return `${b.from} → ${b.to} ${b.currency || ""} ${grouped(b.amount)}`;
    return ["asset", "session", "protocol", "buyer", "seller", "pledgee"]
      .filter((name) => b[name] !== undefined).map((name) => `${name} ${b[name]}`).join(", ");
  }

  // ---- live state ---------------------------------------------------------

  function setLive(on, text) {
    const live = $("live");
    live.className = on ? "live on" : "live off";
    live.textContent = text || (on ? "live" : "reconnecting…");
  }

  function setProblem(text) {
    const problem = $("problem");
    problem.hidden = !text;
    problem.textContent = text || "";
  }

  function showHeight(height) {
    if (height > shown.height) shown.height = height;
    setText("height", grouped(shown.height));
    document.body.dataset.height = String(shown.height);
  }

  function mergeBlocks(blocks) {
    const byHeight = new Map(shown.blocks.map((b) => [b.height, b]));
    for (const b of blocks) byHeight.set(b.height, { ...byHeight.get(b.height), ...b });
    shown.blocks = [...byHeight.values()].sort((a, b) => b.height - a.height).slice(0, shown.limits.blocks_shown);
    fill("blocks", shown.blocks.map((b) => row([
      td(b.height, "num"), td(short(b.hash, 16), "mono", b.hash), td(b.tx_count, "num"),
      td(b.proposer_institution || (b.proposer === undefined ? "" : `replica ${b.proposer}`)),
      td(b.view === undefined ? "" : b.view, "num"), td(utc(b.timestamp_ms)),
    ], { "data-height": b.height })));
  }

  function mergeTxs(txs, replace) {
    const byHash = new Map(replace ? [] : shown.txs.map((t) => [t.tx_hash, t]));
    for (const t of txs) byHash.set(t.tx_hash, { ...byHash.get(t.tx_hash), ...t });
    shown.txs = [...byHash.values()]
      .sort((a, b) => b.height - a.height || b.index - a.index).slice(0, shown.limits.txs_shown);
    fill("txs", shown.txs.map((t) => row([
      td(`${t.height}.${t.index}`, "num"), td(t.type || "?"), td(t.sender || "?"), td(what(t)),
      td(t.ok ? "ok" : t.code, t.ok ? "ok" : "failed", t.detail || ""), td(short(t.tx_hash, 16), "mono", t.tx_hash),
    ], { "data-hash": t.tx_hash })));
    $("txs-empty").hidden = shown.txs.length > 0;
  }

  // ---- the summary --------------------------------------------------------

  function renderConsensus(s) {
    const c = s.consensus;
    setText("n", c.n);
    setText("f", c.f);
    setText("quorum", c.quorum);
    setText("view", c.view);
    setText("primary", c.primary.institution || `replica ${c.primary.replica}`);
    setText("replica", `this node: replica ${s.replica_id}`);
    const peers = Object.entries(s.peers || {});
    const both = peers.filter(([, p]) => p.outbound && p.inbound).length;
    setText("peers-count", `${both} / ${peers.length}`);
    setText("ready", s.ready ? "ready" : `not ready: ${s.ready_reason || ""}`);
    $("ready").className = s.ready ? "note ok" : "note failed";
    const link = (p) => (!p ? "–" : p.outbound && p.inbound ? "both ways" : p.outbound ? "outbound only"
      : p.inbound ? "inbound only" : "down");
    const validatorIds = new Set(c.validators.map((v) => v.institution));
    const rows = c.validators.map((v) => {
      const self = v.institution === s.institution;
      const badges = [v.replica === c.primary.replica ? "primary" : "", self ? "this node" : ""].filter(Boolean);
      return row([
        td(v.replica, "num"), td([v.institution, ...badges.map((b) => `[${b}]`)].join(" ")),
        td(short(v.node_key, 16), "mono", v.node_key), td(self ? "–" : link(s.peers[v.institution])),
      ], { "data-institution": v.institution });
    });
    for (const [name, p] of peers) {
      if (!validatorIds.has(name)) rows.push(row([td("–"), td(`${name} (member node)`), td(""), td(link(p))]));
    }
    fill("validators", rows);
    const pending = $("pending-validators");
    pending.hidden = !c.pending;
    if (c.pending) {
      pending.textContent = `next set from height ${c.pending.effective_height + 1}: ` +
        c.pending.set.map((v) => v[0]).join(", ");
    }
  }

  function renderCounts(counts) {
    $("counts-window").textContent = counts.blocks
      ? `in blocks ${counts.from_height}–${counts.to_height}${counts.scope === "own" ? ", its own only" : ""}` : "";
    const top = Math.max(1, ...counts.by_institution.map((c) => c.count));
    $("counts").replaceChildren(...counts.by_institution.map((c) => {
      const line = el("div", null, { class: "bar", "data-institution": c.institution || "", "data-count": c.count });
      const bar = el("span", null, { class: "fill" });
      bar.style.width = `${(100 * c.count) / top}%`;
      line.append(el("span", c.institution || "unknown key", { class: "name" }), el("span", null, { class: "track" }),
        el("span", grouped(c.count), { class: "count" }));
      line.querySelector(".track").append(bar);
      return line;
    }));
  }

  function renderLedger(s) {
    fill("accounts", s.accounts.map((a) => row([td(a.institution), td(a.currency), td(grouped(a.balance), "num")])));
    fill("cycles", s.cycles.map((c) => {
      const latest = c.latest;
      const positions = latest ? Object.entries(latest.positions || {})
        .map(([iid, v]) => `${iid} ${grouped(v)}`).join(", ") : "";
      return row([td(c.currency), td(c.count, "num"),
        td(latest ? `#${latest.cycle} at height ${latest.height}${latest.closed_by ? ` by ${latest.closed_by}` : ""}`
          : "none yet"), td(positions || "–", "num")]);
    }));
    fill("assets", s.assets.map((a) => row([td(a.id, "mono"), td(a.class), td(a.issuer), td(a.holders.join(", ")),
      td(`${a.currency} ${grouped(a.face_value)}`, "num"), td(a.frozen ? `${a.status}, frozen` : a.status)])));
    $("assets-empty").hidden = s.assets.length > 0;
    $("mpc-panel").hidden = s.mpc_sessions.length === 0;
    fill("sessions", s.mpc_sessions.map((m) => row([td(m.id, "mono"), td(m.protocol), td(m.participants.join(", ")),
      td(m.status), td(`${m.opened_height}${m.closed_height ? `–${m.closed_height}` : ""}`, "num")])));
  }

  function render(s) {
    shown.limits = s.limits;
    setText("chain-name", s.chain_name);
    $("chain-id").textContent = short(s.chain_id, 16);
    $("chain-id").title = s.chain_id;
    setText("institution", s.institution);
    $("roles").textContent = s.reader.roles.join(", ");
    $("reader").textContent = `${s.reader.institution} (${s.reader.roles.join(", ") || "no role"})`;
    showHeight(s.height);
    $("block-hash").textContent = short(s.block_hash, 16);
    setText("pending", grouped(s.pending));
    setText("committed", grouped(s.committed_txs));
    $("txs-scope").textContent = s.reader.sees_all ? "every institution's" : `sent by ${s.institution}`;
    renderConsensus(s);
    mergeBlocks(s.blocks);
    mergeTxs(s.transactions, true);
    renderCounts(s.tx_counts);
    renderLedger(s);
  }

  async function refresh() {
    if (refreshing) {
      refreshAgain = true;
      return;
    }
    refreshing = true;
    try {
      const response = await fetch(SUMMARY_URL, { cache: "no-store" });
      if (!response.ok) throw new Error(`the summary answered HTTP ${response.status}`);
      render(await response.json());
      setProblem(null);
    } catch (problem) {
      setProblem(`could not read the summary: ${problem.message}`);
    } finally {
      refreshing = false;
      lastRefreshMs = Date.now();
      if (refreshAgain) {
        refreshAgain = false;
        scheduleRefresh();
      }
    }
  }

  function scheduleRefresh() {
    if (refreshTimer !== null) return;
    const wait = Math.max(0, lastRefreshMs + REFRESH_MIN_MS - Date.now());
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      refresh();
    }, wait);
  }

  // ---- the event stream ---------------------------------------------------

  function connect() {
    if (source !== null) source.close();
    const stream = new EventSource(EVENTS_URL);
    source = stream;
    stream.onopen = () => setLive(true);
    stream.addEventListener("block", (event) => {
      const block = JSON.parse(event.data);
      showHeight(block.height);
      mergeBlocks([block]);
      scheduleRefresh();
    });
    stream.addEventListener("receipt", (event) => mergeTxs([JSON.parse(event.data)], false));
    stream.addEventListener("resync", () => {
      // The node dropped this stream (we fell behind, or a history page ended):
      // start afresh at the next block, and let the summary fill the gap.
      stream.close();
      setLive(false, "catching up…");
      connect();
      scheduleRefresh();
    });
    stream.onerror = () => {
      if (stream !== source) return;
      if (stream.readyState === EventSource.CLOSED) {  // refused (e.g. too many pages open): retry later
        source = null;
        setLive(false, "stream closed; retrying…");
        setTimeout(() => { if (source === null) connect(); }, RECONNECT_MS);
      } else {
        setLive(false);  // the browser reconnects by itself, resuming after the last block
      }
    };
  }

  refresh();
  connect();
})();
