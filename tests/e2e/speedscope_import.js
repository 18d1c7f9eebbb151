// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// Load a file with speedscope's own importer, the one its web app runs, and
// print what it understood as JSON: the profile group's name, and per
// profile its name, total weight and frames (name, file, line, self, total).
//
// Usage: node speedscope_import.js SPEEDSCOPE_BUNDLE.js FILE
//
// The npm package ships only the browser bundle, so the bundle is evaluated
// in a sandbox whose DOM objects absorb everything, and the module holding
// the import functions (which the app loads lazily through a promise) is
// captured from that promise. Exit 1 if speedscope cannot import the file,
// 3 if the bundle does not have the expected shape.
const fs = require('fs'), vm = require('vm');
const [bundlePath, file] = process.argv.slice(2);
let src = fs.readFileSync(bundlePath, 'utf8');
const m = /var (\w+)=Promise\.resolve\(\)\.then\(\(\)=>\((\w+)\(\),(\w+)\)\);/.exec(src);
if (!m) { console.error('importer entry not found'); process.exit(3); }
src = src.replace(m[0], m[0] + `globalThis.__ssImport=${m[1]};`);
// A value that accepts any use: the app's start-up renders into it harmlessly.
function absorb() {
  const f = function () { return absorb(); };
  return new Proxy(f, { get: (t, k) => k === Symbol.toPrimitive ? () => '' : (k === 'then' ? undefined : absorb()),
                        construct: () => absorb(), apply: () => absorb(), set: () => true, has: () => true });
}
const ctx = { console: { log() {}, warn() {}, error: (...a) => console.error(...a), info() {} },
  TextDecoder, TextEncoder, Uint8Array, ArrayBuffer, DataView, Promise, setTimeout, clearTimeout, URL,
  WebAssembly, Blob: global.Blob };
ctx.window = ctx; ctx.self = ctx; ctx.globalThis = ctx;
for (const k of ['document','navigator','location','localStorage','matchMedia','requestAnimationFrame','addEventListener','removeEventListener','devicePixelRatio','performance','HTMLElement','Element','Node','Event','MutationObserver','getComputedStyle','history','screen','ResizeObserver','Image','fetch','indexedDB'])
  ctx[k] = absorb();
vm.createContext(ctx);
try { vm.runInContext(src, ctx, { filename: 'speedscope.js' }); } catch (e) { /* app start may fail */ }
(async () => {
  const mod = await ctx.__ssImport;
  const text = fs.readFileSync(file, 'utf8');
  const g = await mod.importProfileGroupFromText(require('path').basename(file), text);
  if (!g) { console.error('speedscope could not import'); process.exit(1); }
  const out = { name: g.name, profiles: g.profiles.map(p => {
    const frames = {};
    p.forEachFrame(f => { frames[f.key] = { name: f.name, file: f.file, line: f.line, self: f.getSelfWeight(), total: f.getTotalWeight() }; });
    return { name: p.getName(), total: p.getTotalWeight(), frames: Object.values(frames) };
  }) };
  console.log(JSON.stringify(out));
})().catch(e => { console.error('import failed: ' + e); process.exit(1); });
