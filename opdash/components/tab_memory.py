"""Keep a served tab's memory flat over a working day.

An operator leaves the dashboard open all day and changes filters hundreds of times. Each change
replaces some Bokeh models of the page; BokehJS 3.9 keeps what it replaced in three ways, so a
tab grew by ~200 DOM nodes and ~0.4 MB of heap per change (benchmarks/README.md):

* **The document's model index.** A patch that adds models only schedules the index's
  recomputation, 30 s after the *last* patch (bokeh#15289): an operator who changes something
  more often than that never lets it run, so every model ever replaced stays indexed, with
  everything it references. Here the recomputation runs at most a second after any patch.
* **Listeners on the window and the document** (bokeh#15290, panel#8589): a widget with a
  description adds ``mousedown``/``blur`` listeners at each render, a plot adds a
  ``visualViewport`` resize listener, Choices.js (MultiChoice) adds listeners on
  ``document.documentElement``; none is removed with its view, and each holds the view and its
  DOM. Here such a listener is recorded with the view whose method added it and removed when
  the view is removed, when one of its ancestors is (a figure never removes its tooltips'
  views), or when that method runs again for the view (a re-render).
* **WebGL canvases.** HoloViews draws with WebGL by default; every chart then holds a WebGL
  context, which outlives its canvas until a full collection (and Chromium keeps only 16).
  Served charts here are small, so they are drawn on a 2D canvas.

The script is attached to each session's document and runs once the page is ready; it patches
BokehJS's classes once per page (the views the first page drew before it ran keep their
listeners, a fixed cost). Nothing here changes what is drawn or sent to the server.
"""

from __future__ import annotations

import json

from bokeh.document import Document
from bokeh.models import CustomJS

#: The view methods whose window/document listeners belong to the view (a listener added while
#: one of them runs is removed with the view, or when the same method runs again for it).
TRACKED_METHODS = (
    "initialize",
    "lazy_initialize",
    "connect_signals",
    "render",
    "_build_title",
    "after_render",
)

#: Milliseconds between a patch and the model index's recomputation (BokehJS waits 30 s of
#: quiet, which a working operator never gives it).
RECOMPUTE_AFTER_MS = 1000

SCRIPT = """
if (window.__opdash_tab_memory) { return }
window.__opdash_tab_memory = true
const methods = __METHODS__
const stack = []                 // [view, method] pairs running now, innermost last
const owned = new WeakMap()      // view -> Map(method -> [[target, type, listener, options]])

const holding = new Set()         // views holding tracked listeners
const removed = new WeakSet()     // views removed

function drop(view, method) {
  const buckets = owned.get(view)
  if (buckets == null) { return }
  const names = method == null ? [...buckets.keys()] : [method]
  for (const name of names) {
    for (const [target, type, listener, options] of buckets.get(name) ?? []) {
      target.removeEventListener(type, listener, options)
    }
    buckets.delete(name)
  }
  if (buckets.size == 0) { holding.delete(view) }
}

// A view whose ancestor was removed is gone too, even if nobody removed it (a figure does not
// remove its tooltips' views): drop its listeners, a moment after the removals.
let sweep = null
function sweep_orphans() {
  sweep = null
  for (const view of [...holding]) {
    for (let v = view; v != null; v = v.parent) {
      if (removed.has(v)) { drop(view, null); break }
    }
  }
}

function track(target) {
  if (target == null) { return }
  const add = target.addEventListener
  target.addEventListener = function (type, listener, options) {
    const top = stack[stack.length - 1]
    if (top != null && listener != null) {
      const [view, method] = top
      let buckets = owned.get(view)
      if (buckets == null) { owned.set(view, buckets = new Map()) }
      if (!buckets.has(method)) { buckets.set(method, []) }
      holding.add(view)
      buckets.get(method).push([target, type, listener, options])
    }
    return add.call(this, type, listener, options)
  }
}
for (const target of [window, document, document.documentElement, window.visualViewport]) {
  track(target)
}

function wrap(proto, method) {
  const original = proto[method]
  proto[method] = function (...args) {
    const top = stack[stack.length - 1]
    const nested = top != null && top[0] === this && top[1] === method  // a super call
    if (!nested) {
      drop(this, method)
      stack.push([this, method])
    }
    try {
      return original.apply(this, args)
    } finally {
      if (!nested) { stack.pop() }
    }
  }
}

const View = Bokeh.require("core/view").View
const patched = new WeakSet()
function patch_class(view) {
  for (let proto = Object.getPrototypeOf(view); proto != null && proto !== Object.prototype;
       proto = Object.getPrototypeOf(proto)) {
    if (patched.has(proto)) { break }
    patched.add(proto)
    for (const method of methods) {
      if (Object.prototype.hasOwnProperty.call(proto, method) &&
          typeof proto[method] === "function") {
        wrap(proto, method)
      }
    }
  }
}
const initialize = View.prototype.initialize
View.prototype.initialize = function (...args) {
  patch_class(this)
  return initialize.apply(this, args)
}
const remove = View.prototype.remove
View.prototype.remove = function (...args) {
  try {
    return remove.apply(this, args)
  } finally {
    drop(this, null)
    removed.add(this)
    if (sweep == null) { sweep = setTimeout(sweep_orphans, 200) }
  }
}

const Document = Bokeh.require("document/document").Document
Document.prototype._schedule_recompute_all_models = function () {
  if (this._recompute_timer == null) {
    this._recompute_timer = setTimeout(() => this._recompute_all_models(), __AFTER__)
  }
}
""".replace("__METHODS__", json.dumps(TRACKED_METHODS)).replace(
    "__AFTER__", str(RECOMPUTE_AFTER_MS)
)


def keep_tab_memory_flat(doc: Document) -> None:
    """Attach the script to a served session's document, and draw its charts on a 2D canvas."""
    import holoviews as hv

    hv.renderer("bokeh").webgl = False
    doc.js_on_event("document_ready", CustomJS(code=SCRIPT))
