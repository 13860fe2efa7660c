// The neighbourhood graph as a plain SVG, laid out in rings around the transaction:
// ring 1 its card / device / IP / merchant, ring 2 the other transactions sharing one
// of them, ring 3 those transactions' other cards; then a short, deterministic
// force relaxation (springs on edges, repulsion between nodes) untangles the rings.
const SVG = "http://www.w3.org/2000/svg";
const W = 640, H = 320, CX = W / 2, CY = H / 2, STRETCH = 1.7, PAD = 26;
const RING = [0, 60, 105, 140];
export const COLOURS = {
  card: "#2d5bd7", device: "#7b3fc4", ip: "#128a8a", merchant: "#9a5b13",
  BLOCK: "#c62828", REVIEW: "#e0a800", ALLOW: "#3f9b62", transaction: "#8a94a6",
};

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function place(ids, ring, pos, anchorOf) {
  // Evenly spaced, ordered by the angle of what each node hangs off, so edges stay short.
  const sorted = [...ids].sort((a, b) => (anchorOf(a) ?? 0) - (anchorOf(b) ?? 0));
  const offset = -Math.PI / 2 + (ring === 1 ? 0 : ring === 2 ? 0.2 : 0.4);
  sorted.forEach((id, i) => {
    const angle = offset + (2 * Math.PI * i) / sorted.length;
    pos.set(id, { angle, x: CX + Math.cos(angle) * RING[ring] * STRETCH, y: CY + Math.sin(angle) * RING[ring] });
  });
}

function relax(pos, edges, fixedId, rounds = 250) {
  const ids = [...pos.keys()];
  const k = Math.sqrt(((W - 2 * PAD) * (H - 2 * PAD)) / Math.max(ids.length, 1)) * 0.75;
  for (let t = 0; t < rounds; t++) {
    const step = 12 * (1 - t / rounds) + 0.5;
    const force = new Map(ids.map((id) => [id, { x: 0, y: 0 }]));
    for (let i = 0; i < ids.length; i++) {
      for (let j = i + 1; j < ids.length; j++) {
        const a = pos.get(ids[i]), b = pos.get(ids[j]);
        const dx = a.x - b.x, dy = a.y - b.y, d = Math.max(Math.hypot(dx, dy), 1);
        const f = (k * k) / d / d;
        force.get(ids[i]).x += dx * f; force.get(ids[i]).y += dy * f;
        force.get(ids[j]).x -= dx * f; force.get(ids[j]).y -= dy * f;
      }
    }
    for (const e of edges) {
      const a = pos.get(e.source), b = pos.get(e.target);
      if (!a || !b) continue;
      const dx = a.x - b.x, dy = a.y - b.y, d = Math.max(Math.hypot(dx, dy), 1);
      const f = d / k;
      force.get(e.source).x -= dx * f; force.get(e.source).y -= dy * f;
      force.get(e.target).x += dx * f; force.get(e.target).y += dy * f;
    }
    for (const id of ids) {
      if (id === fixedId) continue;
      const p = pos.get(id), f = force.get(id), len = Math.max(Math.hypot(f.x, f.y), 1e-9);
      p.x = Math.min(W - PAD * 2, Math.max(PAD * 2, p.x + (f.x / len) * Math.min(step, len)));
      p.y = Math.min(H - PAD, Math.max(PAD, p.y + (f.y / len) * Math.min(step, len)));
    }
  }
}

/** An <svg class="graph"> for the neighbourhood answer ({nodes, edges}). */
export function drawGraph({ nodes, edges }) {
  const root = svg("svg", { class: "graph", viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": `Graph neighbourhood: ${nodes.length} nodes, ${edges.length} edges` });
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const centre = nodes.find((n) => n.kind === "transaction" && n.center);
  if (!centre) return root;
  const adj = new Map(nodes.map((n) => [n.id, new Set()]));
  for (const e of edges) { adj.get(e.source)?.add(e.target); adj.get(e.target)?.add(e.source); }
  const pos = new Map([[centre.id, { angle: 0, x: CX, y: CY }]]);
  const ring1 = [...adj.get(centre.id)];
  place(ring1, 1, pos, () => null);
  const anchor = (id) => {
    const placed = [...adj.get(id)].map((n) => pos.get(n)).filter(Boolean);
    return placed.length ? placed[0].angle : null;
  };
  const ring2 = nodes.filter((n) => !pos.has(n.id) && n.kind === "transaction").map((n) => n.id);
  place(ring2, 2, pos, anchor);
  const ring3 = nodes.filter((n) => !pos.has(n.id)).map((n) => n.id);
  place(ring3, 3, pos, anchor);

  relax(pos, edges, centre.id);

  const lines = svg("g", { class: "edges" });
  for (const e of edges) {
    const a = pos.get(e.source), b = pos.get(e.target);
    if (a && b) lines.append(svg("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, "data-kind": e.kind }));
  }
  root.append(lines);
  for (const [id, p] of pos) {
    const n = byId.get(id);
    const isTx = n.kind === "transaction";
    const colour = isTx ? COLOURS[n.action] || COLOURS.transaction : COLOURS[n.kind] || "#888";
    const r = n.center ? (isTx ? 11 : 8) : isTx ? 6 : 7;
    const g = svg("g", { class: `node ${n.kind}`, "data-id": id, "data-kind": n.kind,
      "data-action": n.action || "", transform: `translate(${p.x.toFixed(1)},${p.y.toFixed(1)})` });
    const score = n.fraud_score === null || n.fraud_score === undefined ? "" : ` · score ${n.fraud_score.toFixed(2)}`;
    g.append(svg("title", {}, `${n.kind}: ${n.id.split(":").slice(1).join(":")}${n.action ? ` · ${n.action}` : ""}${score}`));
    g.append(isTx ? svg("circle", { r, fill: colour, stroke: n.center ? "#141b26" : "#fff", "stroke-width": n.center ? 2.5 : 1.5 })
      : svg("rect", { x: -r, y: -r, width: 2 * r, height: 2 * r, rx: 2, fill: colour, stroke: "#fff", "stroke-width": 1.5 }));
    g.append(svg("text", { y: r + 11, "text-anchor": "middle", class: isTx && !n.center ? "minor" : "" }, n.label));
    root.append(g);
  }
  return root;
}
