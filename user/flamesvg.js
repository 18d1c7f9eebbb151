// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// The flame graph's behaviour, embedded by user/flamesvg.c after the data:
//   PYBPF_FRAMES: [name, file, line] per frame ("" / 0 when unknown)
//   PYBPF_NODES:  depth, frame, samples per node, flat, in depth-first order
//                 (children sorted by name); node 0 is the root.
// Rows are drawn from the top (the root) down to the innermost frames.
// Only nodes at least half a pixel wide are drawn, so a large profile
// stays fast. Must not contain the CDATA end marker.
(function () {
	'use strict';
	var NS = 'http://www.w3.org/2000/svg';
	var ROW = 17, TOP = 48, SIDE = 10;
	var svg = document.getElementById('pybpf-flame');
	var framesG = document.getElementById('pybpf-frames');
	var details = document.getElementById('pybpf-details');
	var matched = document.getElementById('pybpf-matched');
	var F = PYBPF_FRAMES, T = PYBPF_NODES;
	var n = T.length / 3;
	var depth = new Int32Array(n), frame = new Int32Array(n), parent = new Int32Array(n);
	var end = new Int32Array(n), total = new Float64Array(n), self = new Float64Array(n);
	var x = new Float64Array(n), next = new Float64Array(n);
	var zoomed = 0, highlight = null, stack = [];

	for (var i = 0; i < n; i++) {
		depth[i] = T[3 * i];
		frame[i] = T[3 * i + 1];
		total[i] = self[i] = T[3 * i + 2];
		while (stack.length > depth[i])
			end[stack.pop()] = i;
		if (stack.length) {
			var p = stack[stack.length - 1];
			parent[i] = p;
			x[i] = next[p];
			next[p] += total[i];
			self[p] -= total[i];
		} else {
			parent[i] = -1;
		}
		next[i] = x[i];
		stack.push(i);
	}
	while (stack.length)
		end[stack.pop()] = n;

	function label(i) {
		var f = F[frame[i]];
		if (!f[1])
			return f[0];
		return f[0] + ' (' + f[1] + (f[2] ? ':' + f[2] : '') + ')';
	}

	// What fits in a box: the name, then the file's base name and the line.
	function shortLabel(i) {
		var f = F[frame[i]];
		if (!f[1])
			return f[0];
		return f[0] + ' (' + f[1].slice(f[1].lastIndexOf('/') + 1) + (f[2] ? ':' + f[2] : '') + ')';
	}

	function describe(i) {
		var all = total[0] || 1;
		return label(i) + ': ' + total[i] + ' samples (' + (100 * total[i] / all).toFixed(2) +
			'% of all), own ' + self[i];
	}

	function colour(i) {
		var f = F[frame[i]], h = 0;
		if (highlight && highlight[i])
			return 'rgb(220,60,220)';
		if (i === 0)
			return 'rgb(200,200,200)';
		if (f[3] === 1)
			return 'rgb(150,175,215)'; // process or thread
		if (!f[1])
			return 'rgb(185,185,185)'; // pseudo frame
		for (var k = 0; k < f[0].length; k++)
			h = (h * 31 + f[0].charCodeAt(k)) >>> 0;
		return 'rgb(' + (215 + h % 40) + ',' + (90 + (h >>> 8) % 140) + ',' + ((h >>> 16) % 60) + ')';
	}

	function fitText(s, w) {
		var chars = Math.floor((w - 6) / 7);
		if (chars < 3)
			return '';
		return s.length <= chars ? s : s.slice(0, chars - 2) + '..';
	}

	function draw(i, px, w, dimmed) {
		var g = document.createElementNS(NS, 'g');
		var r = document.createElementNS(NS, 'rect');
		var t = document.createElementNS(NS, 'text');
		var title = document.createElementNS(NS, 'title');
		var y = TOP + depth[i] * ROW;
		g.setAttribute('class', 'frame');
		g.setAttribute('data-node', i);
		r.setAttribute('x', px.toFixed(1));
		r.setAttribute('y', y);
		r.setAttribute('width', Math.max(w - 0.5, 0.5).toFixed(1));
		r.setAttribute('height', ROW - 1);
		r.setAttribute('rx', 2);
		r.setAttribute('fill', colour(i));
		if (dimmed)
			r.setAttribute('fill-opacity', '0.5');
		t.setAttribute('x', (px + 3).toFixed(1));
		t.setAttribute('y', y + ROW - 5);
		t.textContent = fitText(shortLabel(i), w);
		title.textContent = describe(i);
		g.appendChild(title);
		g.appendChild(r);
		g.appendChild(t);
		framesG.appendChild(g);
	}

	function render() {
		var W = svg.getBoundingClientRect().width || 1200;
		var width = Math.max(W - 2 * SIDE, 100);
		var scale = width / (total[zoomed] || 1), x0 = x[zoomed];
		while (framesG.firstChild)
			framesG.removeChild(framesG.firstChild);
		for (var a = parent[zoomed]; a >= 0; a = parent[a])
			draw(a, SIDE, width, true);
		for (var i = zoomed; i < end[zoomed];) {
			var w = total[i] * scale;
			if (w < 0.5) {
				i = end[i];
				continue;
			}
			draw(i, SIDE + (x[i] - x0) * scale, w, false);
			i++;
		}
		svg.setAttribute('data-zoomed', zoomed);
		document.getElementById('pybpf-reset').style.display = zoomed ? '' : 'none';
		matched.setAttribute('x', W - SIDE);
		document.getElementById('pybpf-buttons').setAttribute('transform', 'translate(' + (W - SIDE) + ',0)');
	}

	function zoom(i) {
		zoomed = i >= 0 && i < n ? i : 0;
		render();
	}

	function search(term) {
		var re, sum = 0;
		highlight = null;
		matched.textContent = '';
		if (term) {
			try {
				re = new RegExp(term);
			} catch (e) {
				re = new RegExp(term.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
			}
			highlight = new Uint8Array(n);
			for (var i = 1; i < n;) {
				if (re.test(label(i))) {
					for (var k = i; k < end[i]; k++)
						highlight[k] = re.test(label(k)) ? 1 : 0;
					highlight[i] = 1;
					sum += total[i];
					i = end[i];
				} else {
					i++;
				}
			}
			matched.textContent = 'Matched "' + term + '": ' + sum + ' samples (' +
				(100 * sum / (total[0] || 1)).toFixed(2) + '%)';
		}
		svg.setAttribute('data-search', term || '');
		render();
		return sum;
	}

	function nodeOf(ev) {
		var el = ev.target;
		while (el && el !== framesG) {
			if (el.getAttribute && el.getAttribute('data-node') !== null)
				return +el.getAttribute('data-node');
			el = el.parentNode;
		}
		return -1;
	}

	framesG.addEventListener('click', function (ev) {
		var i = nodeOf(ev);
		if (i >= 0)
			zoom(i);
	});
	framesG.addEventListener('mouseover', function (ev) {
		var i = nodeOf(ev);
		if (i >= 0)
			details.textContent = describe(i);
	});
	framesG.addEventListener('mouseout', function () {
		details.textContent = ' ';
	});
	document.getElementById('pybpf-reset').addEventListener('click', function () {
		zoom(0);
	});
	document.getElementById('pybpf-search').addEventListener('click', function () {
		var term = window.prompt('Search (a regular expression over "name (file:line)")', '');
		if (term !== null)
			search(term);
	});
	document.getElementById('pybpf-clear').addEventListener('click', function () {
		search('');
	});
	document.addEventListener('keydown', function (ev) {
		if ((ev.ctrlKey || ev.metaKey) && ev.key === 'f') {
			ev.preventDefault();
			document.getElementById('pybpf-search').dispatchEvent(new MouseEvent('click'));
		} else if (ev.key === 'Escape') {
			zoom(0);
		}
	});
	window.addEventListener('resize', render);
	window.pybpfFlame = {zoom: zoom, search: search, reset: function () { zoom(0); }, label: label,
		nodes: n};
	render();
})();
