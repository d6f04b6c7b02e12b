/**
 * The dashboard's stylesheet, embedded so that the compiled binary serves it offline.
 *
 * @module
 */

/** The CSS served at `/assets/app.css`. */
export const STYLE_CSS: string = `
:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --panel: #ffffff; --text: #1c2330; --muted: #5a6475; --line: #dfe3ea;
  --accent: #1f5fbf; --ok: #17703a; --warn: #8a5a00; --bad: #b3261e; --info: #1f5fbf;
  --ok-bg: #e3f4e8; --warn-bg: #fbf0d9; --bad-bg: #fbe4e2; --info-bg: #e3ecfa;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #12161c; --panel: #1b212a; --text: #e6e9ee; --muted: #a3adbb; --line: #2e3643;
    --accent: #7fb0ff; --ok: #6fd08f; --warn: #f0c060; --bad: #ff8f86; --info: #8fb8ff;
    --ok-bg: #183524; --warn-bg: #3a2e12; --bad-bg: #3d1c1a; --info-bg: #1a2a45;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
a { color: var(--accent); }
header { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center;
  padding: .6rem 1.2rem; background: var(--panel); border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; color: var(--text); text-decoration: none; }
header nav { display: flex; gap: 1rem; flex-wrap: wrap; }
header nav a { text-decoration: none; }
header form { margin-left: auto; display: flex; gap: .4rem; }
input[type=search], input[type=text] { font: inherit; padding: .3rem .5rem; min-width: 16rem;
  max-width: 100%; border: 1px solid var(--line); border-radius: 6px; background: var(--bg);
  color: var(--text); }
button { font: inherit; padding: .3rem .8rem; border-radius: 6px; border: 1px solid var(--line);
  background: var(--panel); color: var(--text); cursor: pointer; }
button.danger { color: var(--bad); border-color: var(--bad); }
button.primary { color: var(--accent); border-color: var(--accent); }
main { max-width: 1240px; margin: 0 auto; padding: 1rem 1.2rem 3rem; }
h1 { font-size: 1.35rem; margin: .4rem 0 1rem; }
h2 { font-size: 1.05rem; margin: 1.6rem 0 .6rem; }
section.panel > h2:first-child { margin-top: .2rem; }
td:first-child { overflow-wrap: anywhere; }
summary { cursor: pointer; }
section.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px;
  padding: .8rem 1rem; margin-bottom: 1rem; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: .85rem; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.mono, code, pre { font-family: var(--mono); font-size: .85rem; }
td.body { max-width: 32rem; overflow-wrap: anywhere; }
pre { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: .6rem;
  overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; margin: .3rem 0; }
.muted, .unknown { color: var(--muted); }
.note { color: var(--muted); margin: .4rem 0; }
.flash { padding: .5rem .8rem; border-radius: 6px; background: var(--info-bg); color: var(--info);
  margin-bottom: 1rem; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .8rem;
  font-weight: 600; background: var(--info-bg); color: var(--info); }
.state-SUCCESS, .nonzero-ok { background: var(--ok-bg); color: var(--ok); }
.state-FAILURE, .state-dead { background: var(--bad-bg); color: var(--bad); }
.state-RETRY, .state-delayed { background: var(--warn-bg); color: var(--warn); }
.state-STARTED, .state-RECEIVED, .state-PENDING, .state-queue, .state-held {
  background: var(--info-bg); color: var(--info); }
td.dead-count.nonzero { color: var(--bad); font-weight: 700; }
td.ready-count.nonzero { color: var(--info); font-weight: 600; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.chart { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; }
.chart svg { width: 100%; max-width: 640px; height: 80px; background: var(--bg);
  border: 1px solid var(--line); border-radius: 6px; }
.chart .processed { stroke: var(--ok); fill: none; stroke-width: 2; }
.chart .failed { stroke: var(--bad); fill: none; stroke-width: 2; }
.legend { display: flex; gap: 1rem; font-variant-numeric: tabular-nums; }
.legend .ok { color: var(--ok); } .legend .bad { color: var(--bad); }
.pager { display: flex; gap: 1rem; margin-top: .6rem; }
form.inline { display: inline; }
.actions { display: flex; gap: .5rem; flex-wrap: wrap; margin: .4rem 0 .8rem; }
@media (max-width: 640px) {
  body { font-size: 14px; }
  header form { margin-left: 0; width: 100%; }
  input[type=search] { min-width: 0; flex: 1; }
  main { padding: .6rem .6rem 2rem; }
  th, td { padding: .3rem .35rem; }
  .hide-narrow { display: none; }
}
`;
