"""Tables as every component shows them: read-only, and every cell plain text (never HTML)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn


def plain_table(frame: pd.DataFrame, **options: Any) -> pn.widgets.Tabulator:
    """A read-only Tabulator whose cells render as text, so data can never inject markup."""
    return pn.widgets.Tabulator(
        frame,
        show_index=False,
        disabled=True,
        sizing_mode="stretch_width",
        layout="fit_data_stretch",
        formatters={name: {"type": "plaintext"} for name in frame.columns},
        **options,
    )
