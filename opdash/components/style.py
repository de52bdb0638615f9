"""The page's stylesheet: the shell's rules plus each component's own (``CSS`` in its module)."""

from __future__ import annotations

SHELL_CSS = """
:root { --opdash-ink: #111827; --opdash-muted: #6b7280; --opdash-line: #e5e7eb; }
body { background: #f3f4f6; }
.opdash-kpis { display: flex; gap: 12px; flex-wrap: wrap; }
.opdash-kpi { flex: 1 1 150px; background: #fff; border: 1px solid var(--opdash-line);
  border-radius: 10px; padding: 12px 16px; }
.opdash-kpi-label { color: var(--opdash-muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: .04em; }
.opdash-kpi-value { font-size: 24px; font-weight: 600; color: var(--opdash-ink); margin-top: 4px; }
.opdash-kpi-warn .opdash-kpi-value { color: #b45309; }
.opdash-kpi-note { color: var(--opdash-muted); font-size: 12px; margin-top: 2px; }
.opdash-card { border-radius: 10px; padding: 12px 16px; border: 1px solid var(--opdash-line);
  background: #fff; }
.opdash-card-title { font-weight: 600; margin-bottom: 4px; }
.opdash-error { border-color: #fecaca; background: #fef2f2; color: #991b1b; }
.opdash-warning { border-color: #fde68a; background: #fffbeb; }
.opdash-ok { border-color: #bbf7d0; background: #f0fdf4; }
.opdash-empty { color: #4b5563; }
.opdash-header { display: flex; align-items: baseline; gap: 16px; background: var(--opdash-ink);
  color: #f9fafb; padding: 14px 20px; font-family: system-ui, sans-serif; }
.opdash-brand { font-weight: 700; font-size: 20px; letter-spacing: .02em; }
.opdash-folder { font-size: 18px; color: #cbd5e1; }
.opdash-newest { margin-left: auto; color: #94a3b8; font-size: 13px; }
.opdash-sidebar { background: #f8fafc; border-right: 1px solid var(--opdash-line);
  min-height: 90vh; }
.opdash-layout { font-family: ui-monospace, monospace; white-space: pre; background: #f9fafb;
  padding: 12px; border-radius: 8px; }
"""


def page_css() -> str:
    """Every rule the page needs, the shell's first."""
    from opdash.components import activity, chain, goals, state, today

    parts = [SHELL_CSS]
    parts += [getattr(module, "CSS", "") for module in (today, goals, activity, chain, state)]
    return "\n".join(p for p in parts if p)
