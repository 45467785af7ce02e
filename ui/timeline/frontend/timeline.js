/* otstudio timeline: a <video> and a segment timeline in one Streamlit component (v1 protocol,
 * hand-written, no build step, no network). Only committed edits go back to Python, as a queue of
 * events {id, op, video_id, ...}; Python applies the ones it has not seen yet and acknowledges
 * them by id in the next render, together with the refreshed segments. Times are seconds,
 * snapped to the video's real frame times. */
(function () {
  "use strict";

  // ---------------------------------------------------------------- Streamlit protocol (v1)
  function send(type, extra) {
    window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type: type }, extra || {}), "*");
  }
  function setValue(value) { send("streamlit:setComponentValue", { value: value, dataType: "json" }); }
  let lastHeight = -1;
  function setHeight() {
    const h = Math.ceil(document.documentElement.scrollHeight || document.body.scrollHeight);
    if (h !== lastHeight) { lastHeight = h; send("streamlit:setFrameHeight", { height: h }); }
  }

  // ---------------------------------------------------------------- state
  const SPEEDS = [0.1, 0.25, 0.5, 1, 1.5, 2, 4];
  const RULER_H = 22, LANE_H = 26, HEADER_W = 150, OVERVIEW_H = 12, EDGE_PX = 6, THUMB_H = 40;
  const S = {
    videoId: null, videoUrl: null, duration: 0, grid: new Float64Array([0]), nFrames: 0,
    labels: [], segments: [], activeLabel: null, selectedId: null,
    markIn: null, markOut: null, loopId: null, view: { t0: 0, t1: 1 },
    queue: [], seenResults: {}, drag: null, lanes: [], pendingSeek: null, thumbs: null, thumbImg: null,
    unknown: null,  // {spans: [{start, end, score}], threshold}: the "unknown action" lane, or null
  };
  const UNKNOWN_COLOR = "#6b46c1";
  const $ = (id) => document.getElementById(id);
  const video = $("video"), canvas = $("timeline"), ctx = canvas.getContext("2d"), app = $("app");
  const thumbs = $("thumbs"), tctx = thumbs.getContext("2d");

  // ---------------------------------------------------------------- frame grid
  function buildGrid(ft, duration) {
    let times;
    if (ft && ft.uniform) {
      const u = ft.uniform; times = new Float64Array(u.n);
      for (let i = 0; i < u.n; i++) times[i] = +(u.t0 + i * u.step).toFixed(6);
    } else {
      times = Float64Array.from(ft || []);
    }
    if (times.length === 0) times = Float64Array.from([0]);
    S.nFrames = times.length;
    // boundaries a segment may use: every frame start, plus the end of the video
    const end = Math.max(duration || 0, times[times.length - 1]);
    const g = new Float64Array(times.length + 1); g.set(times); g[times.length] = end;
    S.grid = g; S.duration = end;
  }
  // index of the last frame whose start is <= t (the frame on screen at time t)
  function frameIndexAt(t) {
    const g = S.grid, n = S.nFrames; let lo = 0, hi = n - 1;
    if (t <= g[0]) return 0;
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (g[mid] <= t + 1e-6) lo = mid; else hi = mid - 1; }
    return lo;
  }
  // nearest boundary (frame start or video end)
  function snap(t) {
    const g = S.grid; let lo = 0, hi = g.length - 1;
    if (t <= g[0]) return g[0];
    if (t >= g[hi]) return g[hi];
    while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (g[mid] <= t) lo = mid; else hi = mid; }
    return (t - g[lo] <= g[hi] - t) ? g[lo] : g[hi];
  }
  function frameTime(i) { return S.grid[Math.max(0, Math.min(S.nFrames - 1, i))]; }
  function curIndex() { return frameIndexAt(S.pendingSeek !== null ? S.pendingSeek : video.currentTime || 0); }
  function curTime() { return frameTime(curIndex()); }
  function seekFrame(i) {
    i = Math.max(0, Math.min(S.nFrames - 1, i));
    // aim at the middle of the frame so the decoder shows exactly frame i
    const next = i + 1 < S.nFrames ? S.grid[i + 1] : S.duration;
    const t = next > S.grid[i] ? (S.grid[i] + next) / 2 : S.grid[i];
    seekTime(t);
  }
  function seekTime(t) {
    t = Math.max(0, Math.min(S.duration, t));
    S.pendingSeek = t;
    try { video.currentTime = t; } catch (e) { /* metadata not loaded yet: applied on loadedmetadata */ }
    followPlayhead(t); draw(); updateClock();
  }
  function seekToBoundary(t) { seekFrame(frameIndexAt(t)); }

  // ---------------------------------------------------------------- helpers
  // the playhead of each video survives a reload (best effort: storage may be unavailable)
  function storeGet(k) { try { return window.localStorage.getItem("otstudio-timeline-" + k); } catch (e) { return null; } }
  function storeSet(k, v) { try { window.localStorage.setItem("otstudio-timeline-" + k, String(v)); } catch (e) { /* ignore */ } }
  function fmt(t) { return (t == null) ? "–" : t.toFixed(3); }
  function newId() {
    if (window.crypto && crypto.randomUUID) { try { return crypto.randomUUID(); } catch (e) { /* insecure context */ } }
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
  }
  function isPred(s) { return s.source === "predicted"; }
  function labelColor(name) {
    const l = S.labels.find((x) => x.name === name); return (l && l.color) || "#888888";
  }
  function segById(id) { return S.segments.find((s) => String(s.id) === String(id)) || null; }
  function message(text, kind) { const m = $("message"); m.textContent = text || ""; m.className = kind || ""; }
  function sortedSegs() { return S.segments.slice().sort((a, b) => a.start - b.start || a.end - b.end); }
  function segmentsAt(t, pred) {
    return S.segments.filter((s) => s.start <= t + 1e-9 && t < s.end - 1e-9 && (pred === undefined || isPred(s) === pred));
  }

  // ---------------------------------------------------------------- edits (optimistic + queued)
  function emit(op, fields) {
    const ev = Object.assign({ id: newId(), op: op, video_id: S.videoId }, fields || {});
    S.queue.push(ev);
    applyLocal(ev);
    setValue({ video_id: S.videoId, events: S.queue.slice() });
    draw(); updateSelection();
    return ev;
  }
  function applyLocal(ev) {
    const s = ev.seg_id != null ? segById(ev.seg_id) : null;
    if (ev.op === "add") {
      const tmp = { id: "tmp-" + ev.id, label: ev.label, start: ev.start, end: ev.end, source: "manual", score: null };
      S.segments.push(tmp); S.selectedId = tmp.id;
    } else if (ev.op === "update" && s) {
      if (ev.start != null) s.start = ev.start; if (ev.end != null) s.end = ev.end; if (ev.label != null) s.label = ev.label;
      if (isPred(s)) s.source = "corrected";
    } else if (ev.op === "delete" && s) {
      S.segments = S.segments.filter((x) => x !== s); S.selectedId = null;
    } else if (ev.op === "split" && s) {
      const b = Object.assign({}, s, { id: "tmp-" + ev.id, start: ev.t }); s.end = ev.t; S.segments.push(b);
    } else if (ev.op === "merge") {
      const a = segById(ev.a_id), b = segById(ev.b_id);
      if (a && b) { a.start = Math.min(a.start, b.start); a.end = Math.max(a.end, b.end); S.segments = S.segments.filter((x) => x !== b); S.selectedId = a.id; }
    } else if (ev.op === "accept" && s) {
      s.source = "corrected";
    } else if (ev.op === "reject" && s) {
      S.segments = S.segments.filter((x) => x !== s);
    }
  }

  // ---------------------------------------------------------------- commands
  function selected() { return S.selectedId == null ? null : segById(S.selectedId); }
  function requireReal(s) {
    if (!s) { message("select a segment first (click it, or [ / ])", "error"); return false; }
    if (String(s.id).startsWith("tmp-")) { message("that segment is still being saved", "error"); return false; }
    return true;
  }
  const cmd = {
    playPause() { if (video.paused) { video.play().catch(() => {}); } else { video.pause(); } },
    step(d) { video.pause(); S.loopId = null; seekFrame(curIndex() + d); },
    stepSeconds(d) { video.pause(); seekFrame(frameIndexAt(curTime() + d)); },
    home() { video.pause(); seekFrame(0); },
    end() { video.pause(); seekFrame(S.nFrames - 1); },
    speed(d) {
      let i = SPEEDS.indexOf(video.playbackRate); if (i < 0) i = SPEEDS.indexOf(1);
      i = Math.max(0, Math.min(SPEEDS.length - 1, i + d)); video.playbackRate = SPEEDS[i]; $("speed").value = String(SPEEDS[i]);
    },
    jump(dir) {
      const t = curTime(), segs = sortedSegs();
      let target = null;
      if (dir > 0) target = segs.find((s) => s.start > t + 1e-6);
      else { for (const s of segs) { if (s.start < t - 1e-6) target = s; } }
      if (!target) { message(dir > 0 ? "no later segment" : "no earlier segment"); return; }
      S.selectedId = target.id; seekToBoundary(target.start); updateSelection();
    },
    loop() {
      if (S.loopId != null) { S.loopId = null; video.pause(); updateButtons(); return; }
      const s = selected() || segmentsAt(curTime())[0];
      if (!s) { message("select a segment to play it in a loop", "error"); return; }
      S.selectedId = s.id; S.loopId = s.id; seekToBoundary(s.start); video.play().catch(() => {}); updateButtons(); updateSelection();
    },
    markIn() {
      S.markIn = curTime(); if (S.markOut != null && S.markOut <= S.markIn) S.markOut = null; updateMarks(); draw();
    },
    markOut() {
      const t = curTime();
      if (S.markIn == null) { message("press i at the start first", "error"); return; }
      if (t <= S.markIn) { message("out must be after in (" + fmt(S.markIn) + " s)", "error"); return; }
      if (!S.activeLabel) { message("add a label first (on the page, below)", "error"); return; }
      S.markOut = t; updateMarks();
      emit("add", { label: S.activeLabel, start: S.markIn, end: t });
      message("added " + S.activeLabel + " [" + fmt(S.markIn) + ", " + fmt(t) + ")", "ok");
      S.markIn = null; S.markOut = null; updateMarks();
    },
    setEdge(edge) {
      const s = selected(); if (!requireReal(s)) return;
      const t = curTime();
      const start = edge === "start" ? t : s.start, end = edge === "end" ? t : s.end;
      if (!(start < end)) { message("start must stay before end", "error"); return; }
      emit("update", edge === "start" ? { seg_id: s.id, start: t } : { seg_id: s.id, end: t });
    },
    clear() { S.markIn = null; S.markOut = null; S.selectedId = null; S.loopId = null; updateMarks(); updateSelection(); updateButtons(); draw(); message(""); },
    split() {
      const t = curTime();
      let s = selected();
      if (!s || !(s.start < t && t < s.end)) s = segmentsAt(t, false).find((x) => x.label === S.activeLabel) || segmentsAt(t, false)[0] || segmentsAt(t)[0];
      if (!requireReal(s)) return;
      if (!(s.start < t && t < s.end)) { message("the playhead must be inside the segment to split it", "error"); return; }
      emit("split", { seg_id: s.id, t: t });
    },
    merge() {
      const s = selected(); if (!requireReal(s)) return;
      const lane = (x) => x.label + "|" + isPred(x);
      const nxt = sortedSegs().filter((x) => x !== s && lane(x) === lane(s) && x.start >= s.start).sort((a, b) => a.start - b.start)[0];
      if (!nxt) { message("no next segment in this lane to merge with", "error"); return; }
      if (!requireReal(nxt)) return;
      emit("merge", { a_id: s.id, b_id: nxt.id });
    },
    del() { const s = selected(); if (!requireReal(s)) return; emit("delete", { seg_id: s.id }); },
    relabel() {
      const s = selected(); if (!requireReal(s)) return;
      if (!S.activeLabel || s.label === S.activeLabel) { message("choose another label first (1-9)", "error"); return; }
      emit("update", { seg_id: s.id, label: S.activeLabel });
    },
    proposal() {
      let s = selected();
      if (!s || !isPred(s)) {
        const here = segmentsAt(curTime(), true).sort((a, b) => (b.score || 0) - (a.score || 0));
        s = here[0] || null;
      }
      return s;
    },
    review(op) {
      const s = cmd.proposal();
      if (!s) { message("select a proposal (predicted lane) first", "error"); return; }
      if (!requireReal(s)) return;
      const after = sortedSegs().filter((x) => isPred(x) && x !== s && x.start >= s.start);
      emit(op, { seg_id: s.id });
      const nxt = after[0];
      if (nxt) { S.selectedId = nxt.id; seekToBoundary(nxt.start); } else { S.selectedId = null; }
      updateSelection(); message((op === "accept" ? "accepted " : "rejected ") + s.label, "ok");
    },
    undo() { emit("undo", {}); message("undo", "ok"); },
    redo() { emit("redo", {}); message("redo", "ok"); },
    chooseLabel(i) { if (i < S.labels.length) { S.activeLabel = S.labels[i].name; renderLabels(); } },
    zoom(f, tCenter) {
      const v = S.view, span = v.t1 - v.t0, c = tCenter == null ? curTime() : tCenter;
      const minSpan = Math.max(0.2, 10 * (S.duration / Math.max(1, S.nFrames)));
      let ns = Math.max(minSpan, Math.min(S.duration, span / f));
      const r = span > 0 ? (c - v.t0) / span : 0.5;
      let t0 = c - r * ns; t0 = Math.max(0, Math.min(S.duration - ns, t0));
      S.view = { t0: t0, t1: t0 + ns }; draw();
    },
    fit() { S.view = { t0: 0, t1: Math.max(S.duration, 1e-3) }; draw(); },
  };

  // ---------------------------------------------------------------- keyboard
  function onKey(e) {
    const tag = (e.target && e.target.tagName) || "";
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
    const k = e.key, ctrl = e.ctrlKey || e.metaKey;
    let handled = true;
    if (ctrl && (k === "z" || k === "Z")) { if (e.shiftKey) cmd.redo(); else cmd.undo(); }
    else if (ctrl && (k === "y" || k === "Y")) cmd.redo();
    else if (ctrl) handled = false;
    else if (k === " " || k === "k") cmd.playPause();
    else if (k === "ArrowLeft") { if (e.shiftKey) cmd.stepSeconds(-1); else cmd.step(-1); }
    else if (k === "ArrowRight") { if (e.shiftKey) cmd.stepSeconds(1); else cmd.step(1); }
    else if (k === "Home") cmd.home();
    else if (k === "End") cmd.end();
    else if (k === "[") cmd.jump(-1);
    else if (k === "]") cmd.jump(1);
    else if (k === ",") cmd.speed(-1);
    else if (k === ".") cmd.speed(1);
    else if (k === "p") cmd.loop();
    else if (k === "i") cmd.markIn();
    else if (k === "o") cmd.markOut();
    else if (k === "I") cmd.setEdge("start");
    else if (k === "O") cmd.setEdge("end");
    else if (k === "Escape") cmd.clear();
    else if (k === "s") cmd.split();
    else if (k === "m") cmd.merge();
    else if (k === "Delete" || k === "Backspace" || k === "x") cmd.del();
    else if (k === "c") cmd.relabel();
    else if (k === "a") cmd.review("accept");
    else if (k === "r") cmd.review("reject");
    else if (k === "+" || k === "=") cmd.zoom(2);
    else if (k === "-" || k === "_") cmd.zoom(0.5);
    else if (k === "0") cmd.fit();
    else if (/^[1-9]$/.test(k)) cmd.chooseLabel(parseInt(k, 10) - 1);
    else handled = false;
    if (handled) { e.preventDefault(); e.stopPropagation(); updateClock(); }
  }

  // ---------------------------------------------------------------- layout & drawing
  function computeLanes() {
    const lanes = [];
    const names = S.labels.map((l) => l.name);
    for (const s of S.segments) if (!names.includes(s.label)) names.push(s.label);
    for (const n of names) lanes.push({ label: n, pred: false, sub: 0 });
    // proposals of one label that overlap go on stacked sub-lanes (greedy interval packing, by start)
    for (const n of names) {
      const props = S.segments.filter((s) => s.label === n && isPred(s))
        .sort((a, b) => a.start - b.start || (b.score || 0) - (a.score || 0));
      const ends = [];
      for (const s of props) {
        let k = ends.findIndex((e) => e <= s.start + 1e-9);
        if (k < 0) { k = ends.length; ends.push(s.end); } else ends[k] = s.end;
        s._sub = k;
      }
      for (let k = 0; k < ends.length; k++) lanes.push({ label: n, pred: true, sub: k });
    }
    // the unknown-action lane (read only): spans SOT-GLP's OOD score puts above the threshold
    if (S.unknown) lanes.push({ label: "", pred: false, sub: 0, unknown: true });
    S.lanes = lanes;
  }
  function laneOf(s) {
    const pred = isPred(s), sub = pred ? (s._sub || 0) : 0;
    return S.lanes.findIndex((l) => !l.unknown && l.label === s.label && l.pred === pred && l.sub === sub);
  }
  function lanesTop() { return RULER_H; }
  function geom() {
    const w = canvas.clientWidth || 600;
    return { w: w, x0: HEADER_W, x1: w - 4, h: lanesTop() + Math.max(1, S.lanes.length) * LANE_H + OVERVIEW_H + 4 };
  }
  function tx(t, g) { const v = S.view; return g.x0 + (t - v.t0) / Math.max(1e-9, v.t1 - v.t0) * (g.x1 - g.x0); }
  function xt(x, g) { const v = S.view; return v.t0 + (x - g.x0) / Math.max(1, g.x1 - g.x0) * (v.t1 - v.t0); }
  // ruler text: seconds on short videos, h:mm:ss(.fff) once the video is a minute or longer
  function fmtTick(t, step) {
    if (S.duration < 60) return (step < 1 ? t.toFixed(2) : t.toFixed(0)) + "s";
    const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), sec = t % 60;
    const ss = step < 1 ? sec.toFixed(3).padStart(6, "0") : String(Math.round(sec)).padStart(2, "0");
    return (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + ss;
  }
  function niceStep(span, px) {
    const target = span / Math.max(1, px / 80), steps = [0.04, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200, 3600];
    return steps.find((s) => s >= target) || 3600;
  }
  function draw() {
    computeLanes();
    const g = geom(), dpr = window.devicePixelRatio || 1;
    if (canvas.height !== Math.round(g.h * dpr) || canvas.width !== Math.round(g.w * dpr)) {
      canvas.width = Math.round(g.w * dpr); canvas.height = Math.round(g.h * dpr); canvas.style.height = g.h + "px";
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, g.w, g.h);
    ctx.font = "11px system-ui, sans-serif"; ctx.textBaseline = "middle";
    ctx.fillStyle = "#fafafa"; ctx.fillRect(0, 0, g.w, RULER_H);
    // lanes
    S.lanes.forEach((lane, li) => {
      const y = lanesTop() + li * LANE_H;
      ctx.fillStyle = li % 2 ? "#ffffff" : "#f6f7f9"; ctx.fillRect(0, y, g.w, LANE_H);
      if (lane.unknown) {
        ctx.fillStyle = UNKNOWN_COLOR; ctx.fillRect(4, y + 7, 10, 12);
        ctx.fillStyle = "#333"; ctx.font = "italic 11px system-ui, sans-serif";
        ctx.fillText("unknown action", 18, y + LANE_H / 2);
        return;
      }
      ctx.fillStyle = labelColor(lane.label); ctx.fillRect(4, y + 7, 10, 12);
      ctx.fillStyle = lane.label === S.activeLabel && !lane.pred ? "#000" : "#333";
      ctx.font = (lane.label === S.activeLabel && !lane.pred ? "bold " : "") + "11px system-ui, sans-serif";
      const name = lane.pred ? (lane.sub ? "  ↳ overlapping " + (lane.sub + 1) : lane.label + " · proposed") : lane.label;
      ctx.fillText(name.length > 22 ? name.slice(0, 21) + "…" : name, 18, y + LANE_H / 2);
    });
    ctx.font = "11px system-ui, sans-serif";
    ctx.save(); ctx.beginPath(); ctx.rect(g.x0, 0, g.x1 - g.x0, g.h); ctx.clip();
    // ruler
    const step = niceStep(S.view.t1 - S.view.t0, g.x1 - g.x0);
    ctx.strokeStyle = "#c8ccd2"; ctx.fillStyle = "#555";
    for (let t = Math.ceil(S.view.t0 / step) * step; t <= S.view.t1 + 1e-9; t += step) {
      const x = tx(t, g); ctx.beginPath(); ctx.moveTo(x + 0.5, RULER_H - 6); ctx.lineTo(x + 0.5, RULER_H); ctx.stroke();
      ctx.fillText(fmtTick(t, step), x + 2, RULER_H / 2 - 2);
    }
    // frame ticks when zoomed in far enough
    const pxPerFrame = (g.x1 - g.x0) / Math.max(1e-9, S.view.t1 - S.view.t0) * (S.duration / Math.max(1, S.nFrames));
    if (pxPerFrame > 5) {
      ctx.strokeStyle = "#e1e3e8"; const i0 = frameIndexAt(S.view.t0), i1 = frameIndexAt(S.view.t1);
      const yEnd = pxPerFrame > 10 ? g.h - OVERVIEW_H - 4 : RULER_H;  // deep zoom: one faint line per frame
      for (let i = i0; i <= i1; i++) { const x = tx(S.grid[i], g); ctx.beginPath(); ctx.moveTo(x + 0.5, RULER_H - 3); ctx.lineTo(x + 0.5, yEnd); ctx.stroke(); }
    }
    // segments
    for (const s of S.segments) {
      const li = laneOf(s); if (li < 0) continue;
      const y = lanesTop() + li * LANE_H + 3, h = LANE_H - 6;
      const xa = tx(s.start, g), xb = tx(s.end, g); if (xb < g.x0 || xa > g.x1) continue;
      const col = labelColor(s.label);
      ctx.globalAlpha = isPred(s) ? 0.25 + 0.6 * Math.max(0, Math.min(1, s.score == null ? 0.5 : s.score)) : 0.85;
      ctx.fillStyle = col; ctx.fillRect(xa, y, Math.max(1, xb - xa), h);
      ctx.globalAlpha = 1;
      if (isPred(s)) { ctx.setLineDash([4, 3]); ctx.strokeStyle = "#333"; ctx.strokeRect(xa + 0.5, y + 0.5, Math.max(1, xb - xa) - 1, h - 1); ctx.setLineDash([]); }
      if (String(s.id) === String(S.selectedId)) { ctx.lineWidth = 2; ctx.strokeStyle = "#000"; ctx.strokeRect(xa + 1, y + 1, Math.max(2, xb - xa) - 2, h - 2); ctx.lineWidth = 1; }
      if (xb - xa > 34) {
        ctx.fillStyle = "#111";
        const txt = isPred(s) ? (s.score == null ? "?" : s.score.toFixed(2)) : (s.source === "corrected" ? "✓" : "");
        if (txt) ctx.fillText(txt, Math.max(xa, g.x0) + 4, y + h / 2);
      }
    }
    drawUnknown(g);
    // in/out marks
    ctx.fillStyle = "rgba(255,75,75,0.18)";
    if (S.markIn != null) {
      const xa = tx(S.markIn, g), xb = tx(Math.max(S.markIn, curTime()), g);
      ctx.fillRect(xa, RULER_H, Math.max(1, xb - xa), g.h - RULER_H - OVERVIEW_H);
      ctx.fillStyle = "#d92d20"; ctx.fillRect(xa - 1, 0, 2, g.h - OVERVIEW_H);
    }
    // playhead
    const xp = tx(curTime(), g); ctx.fillStyle = "#ff4b4b"; ctx.fillRect(xp - 1, 0, 2, g.h - OVERVIEW_H);
    ctx.restore();
    // overview (whole video, window shown) — drag to pan
    const oy = g.h - OVERVIEW_H;
    ctx.fillStyle = "#eceef1"; ctx.fillRect(g.x0, oy + 2, g.x1 - g.x0, OVERVIEW_H - 4);
    const D = Math.max(S.duration, 1e-9), ox = (t) => g.x0 + t / D * (g.x1 - g.x0);
    ctx.fillStyle = "#9aa4b2"; ctx.fillRect(ox(S.view.t0), oy + 2, Math.max(3, ox(S.view.t1) - ox(S.view.t0)), OVERVIEW_H - 4);
    ctx.fillStyle = "#ff4b4b"; ctx.fillRect(ox(curTime()) - 1, oy, 2, OVERVIEW_H);
    drawThumbs(g);
    canvas.dataset.segments = String(S.segments.length);
    canvas.dataset.proposalLanes = String(S.lanes.filter((l) => l.pred).length);
    canvas.dataset.unknownSpans = String(S.unknown ? S.unknown.spans.length : 0);
    setHeight();
  }
  // unknown-action spans: shaded (darker = higher score above the threshold), hatched, in their own lane
  function unknownLane() { return S.lanes.findIndex((l) => l.unknown); }
  function drawUnknown(g) {
    const li = unknownLane(); if (li < 0 || !S.unknown) return;
    const y = lanesTop() + li * LANE_H + 3, h = LANE_H - 6;
    const spans = S.unknown.spans || [], top = Math.max(1e-9, ...spans.map((u) => u.score)), thr = S.unknown.threshold || 0;
    for (const u of spans) {
      const xa = tx(u.start, g), xb = tx(u.end, g); if (xb < g.x0 || xa > g.x1) continue;
      const w = Math.max(1, xb - xa), rel = top > thr ? (u.score - thr) / (top - thr) : 1;
      ctx.globalAlpha = 0.3 + 0.5 * Math.max(0, Math.min(1, rel));
      ctx.fillStyle = UNKNOWN_COLOR; ctx.fillRect(xa, y, w, h);
      ctx.globalAlpha = 1;
      ctx.save(); ctx.beginPath(); ctx.rect(xa, y, w, h); ctx.clip();
      ctx.strokeStyle = "rgba(255,255,255,0.5)";
      for (let x = xa - h; x < xb; x += 6) { ctx.beginPath(); ctx.moveTo(x, y + h); ctx.lineTo(x + h, y); ctx.stroke(); }
      ctx.restore();
      if (w > 34) { ctx.fillStyle = "#fff"; ctx.fillText(u.score.toFixed(2), Math.max(xa, g.x0) + 4, y + h / 2); }
    }
  }
  function unknownAt(t) {
    if (!S.unknown) return null;
    return (S.unknown.spans || []).find((u) => u.start <= t && t < u.end) || null;
  }
  // thumbnails: their own canvas right above the lanes, on the lanes' time axis (one sprite, each
  // frame drawn at its own time, so zoom and pan move them too); a click seeks
  function drawThumbs(g) {
    const th = S.thumbs;
    if (!S.thumbImg || !th) { thumbs.style.display = "none"; return; }
    thumbs.style.display = "block";
    const dpr = window.devicePixelRatio || 1;
    if (thumbs.width !== Math.round(g.w * dpr) || thumbs.height !== Math.round(THUMB_H * dpr)) {
      thumbs.width = Math.round(g.w * dpr); thumbs.height = Math.round(THUMB_H * dpr); thumbs.style.height = THUMB_H + "px";
    }
    tctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    tctx.clearRect(0, 0, g.w, THUMB_H);
    tctx.fillStyle = "#111"; tctx.fillRect(g.x0, 0, g.x1 - g.x0, THUMB_H);
    const times = th.times || [], tw = th.width, thh = th.height, dw = THUMB_H * tw / Math.max(1, thh);
    tctx.save(); tctx.beginPath(); tctx.rect(g.x0, 0, g.x1 - g.x0, THUMB_H); tctx.clip();
    for (let i = 0; i < times.length; i++) {
      const half = (i + 1 < times.length ? times[i + 1] - times[i] : (i ? times[i] - times[i - 1] : S.duration)) / 2;
      const xa = tx(times[i] - half, g), xb = tx(times[i] + half, g);
      if (xb < g.x0 || xa > g.x1) continue;
      const w = Math.min(dw, xb - xa), x = (xa + xb) / 2 - w / 2, sw = tw * w / dw;
      tctx.drawImage(S.thumbImg, i * tw + (tw - sw) / 2, 0, sw, thh, x, 0, w, THUMB_H);
    }
    const xp = tx(curTime(), g); tctx.fillStyle = "#ff4b4b"; tctx.fillRect(xp - 1, 0, 2, THUMB_H);
    tctx.restore();
    thumbs.dataset.thumbs = String(times.length);
  }
  function followPlayhead(t) {
    const v = S.view, span = v.t1 - v.t0;
    if (t < v.t0 || t > v.t1) { let t0 = Math.max(0, Math.min(S.duration - span, t - span * 0.1)); S.view = { t0: t0, t1: t0 + span }; }
  }

  // ---------------------------------------------------------------- mouse
  function hit(x, y) {
    const g = geom();
    if (y < RULER_H) return { kind: "ruler" };
    if (y >= g.h - OVERVIEW_H - 4) return { kind: "overview" };
    const li = Math.floor((y - lanesTop()) / LANE_H); const lane = S.lanes[li];
    if (!lane) return { kind: "none" };
    if (lane.unknown) return x < g.x0 ? { kind: "none" } : { kind: "unknown", lane: lane, span: unknownAt(xt(x, g)) };
    if (x < g.x0) return { kind: "header", lane: lane };
    const segs = S.segments.filter((s) => laneOf(s) === li);
    for (const s of segs) {
      const xa = tx(s.start, g), xb = tx(s.end, g);
      if (Math.abs(x - xa) <= EDGE_PX) return { kind: "edge", seg: s, edge: "start", lane: lane };
      if (Math.abs(x - xb) <= EDGE_PX) return { kind: "edge", seg: s, edge: "end", lane: lane };
    }
    for (const s of segs) { if (tx(s.start, g) <= x && x <= tx(s.end, g)) return { kind: "seg", seg: s, lane: lane }; }
    return { kind: "lane", lane: lane };
  }
  function panOverview(x) {
    const g = geom(), span = S.view.t1 - S.view.t0, t = (x - g.x0) / (g.x1 - g.x0) * S.duration;
    let t0 = Math.max(0, Math.min(S.duration - span, t - span / 2)); S.view = { t0: t0, t1: t0 + span }; draw();
  }
  thumbs.addEventListener("mousedown", (e) => {
    app.focus();
    const r = thumbs.getBoundingClientRect(), x = e.clientX - r.left, g = geom();
    if (x >= g.x0) { video.pause(); seekFrame(frameIndexAt(snap(xt(x, g)))); }
  });
  canvas.addEventListener("mousedown", (e) => {
    app.focus();
    const r = canvas.getBoundingClientRect(), x = e.clientX - r.left, y = e.clientY - r.top, g = geom(), h = hit(x, y);
    if (h.kind === "ruler") { video.pause(); seekFrame(frameIndexAt(snap(xt(x, g)))); S.drag = { kind: "scrub" }; }
    else if (h.kind === "overview") { panOverview(x); S.drag = { kind: "pan" }; }
    else if (h.kind === "edge") {
      if (String(h.seg.id).startsWith("tmp-")) return;
      S.selectedId = h.seg.id; S.drag = { kind: "edge", seg: h.seg, edge: h.edge, start: h.seg.start, end: h.seg.end, moved: false };
    } else if (h.kind === "seg") { S.selectedId = h.seg.id; if (!h.lane.pred) S.activeLabel = h.seg.label; renderLabels(); }
    else if (h.kind === "unknown") {
      video.pause(); S.selectedId = null;
      if (h.span) {
        seekToBoundary(h.span.start);
        message("unknown action [" + fmt(h.span.start) + ", " + fmt(h.span.end) + ") score " + h.span.score.toFixed(3) + ": name it under \"New label from span\" below", "ok");
      } else { seekFrame(frameIndexAt(snap(xt(x, g)))); S.drag = { kind: "scrub" }; }
    }
    else if (h.kind === "lane" || h.kind === "header") {
      if (!h.lane.pred) { S.activeLabel = h.lane.label; renderLabels(); }
      S.selectedId = null;
      if (h.kind === "lane") { video.pause(); seekFrame(frameIndexAt(snap(xt(x, g)))); S.drag = { kind: "scrub" }; }
    }
    updateSelection(); draw(); e.preventDefault();
  });
  window.addEventListener("mousemove", (e) => {
    const r = canvas.getBoundingClientRect(), x = e.clientX - r.left, y = e.clientY - r.top, g = geom();
    if (!S.drag) {
      const h = hit(x, y); canvas.style.cursor = h.kind === "edge" ? "ew-resize" : (h.kind === "seg" ? "pointer" : (h.kind === "overview" ? "grab" : "crosshair"));
      return;
    }
    if (S.drag.kind === "scrub") { seekFrame(frameIndexAt(snap(xt(x, g)))); }
    else if (S.drag.kind === "pan") { panOverview(x); }
    else if (S.drag.kind === "edge") {
      const d = S.drag, t = snap(xt(x, g));
      if (d.edge === "start" && t < d.end) d.seg.start = t;
      if (d.edge === "end" && t > d.start) d.seg.end = t;
      d.moved = true; seekToBoundary(d.edge === "start" ? d.seg.start : Math.max(d.seg.start, frameTime(frameIndexAt(d.seg.end) - 1)));
      draw(); updateSelection();
    }
  });
  window.addEventListener("mouseup", () => {
    const d = S.drag; S.drag = null;
    if (d && d.kind === "edge" && d.moved) {
      const s = d.seg, ns = s.start, ne = s.end; s.start = d.start; s.end = d.end;  // restore, then emit (applies again)
      if (ns !== d.start || ne !== d.end) emit("update", { seg_id: s.id, start: ns, end: ne });
    }
  });
  canvas.addEventListener("dblclick", (e) => {
    const r = canvas.getBoundingClientRect(), h = hit(e.clientX - r.left, e.clientY - r.top);
    if (h.seg) { seekToBoundary(h.seg.start); }
  });
  canvas.addEventListener("wheel", (e) => {
    const r = canvas.getBoundingClientRect(), g = geom(), x = e.clientX - r.left;
    if (x < g.x0) return;
    e.preventDefault();
    if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      const span = S.view.t1 - S.view.t0, d = (e.shiftKey ? e.deltaY : e.deltaX) / (g.x1 - g.x0) * span;
      let t0 = Math.max(0, Math.min(S.duration - span, S.view.t0 + d)); S.view = { t0: t0, t1: t0 + span }; draw();
    } else {
      cmd.zoom(e.deltaY < 0 ? 1.25 : 0.8, xt(x, g));
    }
  }, { passive: false });

  // ---------------------------------------------------------------- toolbar / status
  function updateClock() {
    const i = curIndex();
    $("clock").textContent = curTime().toFixed(3) + " s · frame " + i + " / " + Math.max(0, S.nFrames - 1) + " · " + video.playbackRate + "×";
    $("btn-play").innerHTML = video.paused ? "&#9654;" : "&#10074;&#10074;";
  }
  function updateMarks() { $("marks").textContent = "in " + fmt(S.markIn) + " · out " + fmt(S.markOut); }
  function updateButtons() { $("btn-loop").classList.toggle("on", S.loopId != null); }
  function updateSelection() {
    const s = selected();
    $("selection").textContent = s ? ("selected: " + s.label + " [" + fmt(s.start) + ", " + fmt(s.end) + ") " + s.source + (s.score != null ? " score " + s.score.toFixed(3) : "")) : "";
  }
  function renderLabels() {
    const box = $("labels"); box.innerHTML = "";
    const lab = document.createElement("span"); lab.textContent = "label:"; lab.style.color = "#6b7280"; box.appendChild(lab);
    S.labels.forEach((l, i) => {
      const b = document.createElement("button"); b.className = "chip" + (l.name === S.activeLabel ? " active" : "");
      b.innerHTML = '<span class="swatch"></span>'; b.firstChild.style.background = l.color || "#888";
      b.appendChild(document.createTextNode((i < 9 ? (i + 1) + " " : "") + l.name));
      b.dataset.label = l.name; b.title = i < 9 ? "key " + (i + 1) : "";
      b.addEventListener("click", () => { S.activeLabel = l.name; renderLabels(); draw(); app.focus(); });
      box.appendChild(b);
    });
    if (!S.labels.length) { const n = document.createElement("span"); n.textContent = "no labels yet: add one under Labels above the timeline"; box.appendChild(n); }
  }
  SPEEDS.forEach((s) => { const o = document.createElement("option"); o.value = String(s); o.textContent = s + "×"; $("speed").appendChild(o); });
  $("speed").value = "1";
  $("speed").addEventListener("change", () => { video.playbackRate = parseFloat($("speed").value); updateClock(); app.focus(); });
  const clickCmd = (id, f) => $(id).addEventListener("click", () => { f(); app.focus(); updateClock(); });
  clickCmd("btn-play", cmd.playPause); clickCmd("btn-prev-frame", () => cmd.step(-1)); clickCmd("btn-next-frame", () => cmd.step(1));
  clickCmd("btn-prev-seg", () => cmd.jump(-1)); clickCmd("btn-next-seg", () => cmd.jump(1)); clickCmd("btn-loop", cmd.loop);
  clickCmd("btn-undo", cmd.undo); clickCmd("btn-redo", cmd.redo); clickCmd("btn-fit", cmd.fit);

  // ---------------------------------------------------------------- video events
  let raf = 0;
  function tick() {
    if (S.loopId != null) {
      const s = segById(S.loopId);
      if (!s) S.loopId = null; else if (video.currentTime >= s.end - 1e-3 || video.currentTime < s.start - 0.05) video.currentTime = s.start + 1e-3;
    }
    if (!video.paused) followPlayhead(video.currentTime);
    draw(); updateClock();
    raf = video.paused ? 0 : requestAnimationFrame(tick);
  }
  video.addEventListener("play", () => { S.pendingSeek = null; if (!raf) raf = requestAnimationFrame(tick); updateClock(); });
  // the playhead goes into the app's URL (?t=), so a reload or a shared link opens the same frame
  function urlTime(t) {
    try {
      const u = new URL(window.parent.location.href);
      u.searchParams.set("t", t.toFixed(3));
      window.parent.history.replaceState(window.parent.history.state, "", u.toString());
    } catch (e) { /* another origin: the URL keeps what Python put there */ }
  }
  video.addEventListener("pause", () => { storeSet("t-" + S.videoId, video.currentTime); urlTime(video.currentTime); updateClock(); draw(); });
  video.addEventListener("seeked", () => { S.pendingSeek = null; storeSet("t-" + S.videoId, video.currentTime); if (video.paused) urlTime(video.currentTime); draw(); updateClock(); });
  video.addEventListener("loadedmetadata", () => {
    $("novideo").hidden = true;
    if (S.pendingSeek !== null) { try { video.currentTime = S.pendingSeek; } catch (e) { /* ignore */ } }
    setHeight();
  });
  video.addEventListener("error", () => { video.style.display = "none"; $("novideo").hidden = false; $("novideo").textContent = "The browser cannot play this file (container or codec; e.g. AVI/MPEG-4 Part 2). The timeline still works; convert the video to MP4 (H.264) or WebM to see it."; setHeight(); });
  app.addEventListener("focus", () => app.classList.add("focused"));
  app.addEventListener("blur", () => app.classList.remove("focused"));
  document.addEventListener("keydown", onKey);
  window.addEventListener("resize", () => draw());
  document.addEventListener("mousedown", (e) => { if (!(e.target && /^(SELECT|INPUT|BUTTON)$/.test(e.target.tagName))) app.focus(); });

  // ---------------------------------------------------------------- render from Python
  function appRoot() {
    const p = window.location.pathname, i = p.lastIndexOf("/component/");
    return i >= 0 ? p.slice(0, i) : "";
  }
  function onRender(args) {
    const videoChanged = args.video_id !== S.videoId;
    if (videoChanged) {
      S.videoId = args.video_id; S.queue = []; S.selectedId = null; S.markIn = null; S.markOut = null; S.loopId = null;
      buildGrid(args.frame_times, args.duration);
      S.view = { t0: 0, t1: Math.max(S.duration, 1e-3) };
      S.pendingSeek = 0;
      const saved = args.start_time != null ? parseFloat(args.start_time) : parseFloat(storeGet("t-" + S.videoId));
      if (isFinite(saved) && saved > 0 && saved <= S.duration) { S.pendingSeek = saved; try { video.currentTime = saved; } catch (e) { /* later */ } }
    }
    if (args.video_url) {
      // same origin as the app: video_url is a path below the app's root, and this frame is
      // served at <app root>/component/<name>/index.html (also behind a proxy or a base path)
      const url = appRoot() + args.video_url;
      if (url !== S.videoUrl) {
        // a renewed token for the same video keeps the playhead
        if (!videoChanged && S.videoUrl && S.pendingSeek === null) S.pendingSeek = video.currentTime || 0;
        S.videoUrl = url; video.style.display = ""; $("novideo").hidden = true; video.src = url;
      }
    } else { $("novideo").hidden = false; }
    // acknowledged events leave the queue
    const acked = new Set(args.acked || []);
    S.queue = S.queue.filter((ev) => !acked.has(ev.id));
    S.labels = args.labels || [];
    S.unknown = args.unknown || null;
    const th = args.thumbs || null;
    if (!th) { S.thumbs = null; S.thumbImg = null; }
    else if (!S.thumbs || S.thumbs.src !== th.src) {
      S.thumbs = th; S.thumbImg = null;
      const img = new Image();
      img.onload = () => { if (S.thumbs === th) { S.thumbImg = img; draw(); } };
      img.src = th.src;
    }
    if (!S.activeLabel || !S.labels.some((l) => l.name === S.activeLabel)) S.activeLabel = args.active_label || (S.labels[0] && S.labels[0].name) || null;
    S.segments = (args.segments || []).map((s) => Object.assign({}, s));
    for (const ev of S.queue) applyLocal(ev);  // still in flight: keep showing them
    if (args.select_id != null && segById(args.select_id)) S.selectedId = args.select_id;
    if (S.selectedId != null && !segById(S.selectedId)) S.selectedId = null;
    const res = args.result;
    if (res && res.event_id && !S.seenResults[res.event_id]) { S.seenResults[res.event_id] = 1; message(res.message || "", res.ok ? "ok" : "error"); }
    renderLabels(); updateMarks(); updateSelection(); updateButtons(); draw(); updateClock();
  }
  window.addEventListener("message", (e) => {
    const d = e.data; if (!d || d.type !== "streamlit:render") return;
    try { onRender(d.args || {}); } catch (err) { message("timeline error: " + err, "error"); throw err; }
  });
  send("streamlit:componentReady", { apiVersion: 1 });
  // exposed for debugging in the browser console and for tests
  window.otTimeline = { state: S, cmd: cmd, snap: snap, curTime: curTime };
})();
